// Package oci implements [registry.Registry] over any OCI distribution
// registry (Artifact Registry, Docker Hub, GHCR, a local registry:2) with
// go-containerregistry.
//
// Resolve issues a single HEAD request for the manifest, so polling for a
// tag with [registry.Await] is cheap. Push writes layers, config and
// manifest with remote.Write and returns the digest computed locally from
// the image, the identity the rest of the pipeline deploys.
//
// Authentication defaults to anonymous; use [WithTokenSource] with a
// Google token source for *.pkg.dev, or [WithKeychain] for the Docker
// credential helpers. The package is named oci rather than remote so that it
// can be imported beside go-containerregistry's remote package.
package oci
