// Package registry identifies build artifacts by digest and defines the
// [Registry] interface through which images are pushed and resolved.
//
// An [Artifact] is an image repository plus an immutable digest. Tags such as
// a commit SHA are only a way to find the digest; once resolved, every later
// stage of the pipeline deploys "repository@digest".
//
// A Registry may also be a [Tagger] (an optional interface, detected with
// a type assertion), which adds a tag to an image it holds without pushing
// it again.
//
// Backends live in sub-packages (an OCI distribution registry, Artifact
// Registry); an in-memory implementation is in package fake.
package registry
