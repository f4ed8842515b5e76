// Package artifactregistry implements [registry.Registry] and
// [registry.Tagger] for Google Artifact Registry Docker repositories.
//
// Images are pushed over the OCI protocol (package registry/oci) to
// "LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE:TAG". References are
// resolved through the Artifact Registry API (artifactregistry/apiv1):
// a tag through GetTag, whose version name ends in the digest, and a digest
// through GetVersion. Release tags are added with CreateTag, without
// pushing anything.
//
// [Registry.Check] reviews a repository's configuration for the build-once
// model: Docker format, immutable tags, and cleanup policies that could
// delete a commit's image before it is released.
//
// Tests run it against package fake/artifactregistryfake.
package artifactregistry
