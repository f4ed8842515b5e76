package registry

import (
	"context"
	"fmt"

	"github.com/twostage/twostage"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Artifact is the identity of a built image: where it lives and its
// immutable content digest. The zero value is not a valid Artifact.
type Artifact struct {
	// Repository is "HOST/PATH" with neither tag nor digest, for example
	// "europe-west1-docker.pkg.dev/my-project/apps/api".
	Repository string
	// Digest is the manifest digest, "sha256:" followed by 64 lower-case
	// hex digits.
	Digest string
}

// String returns the digest reference "Repository@Digest", the form the
// pipeline deploys.
func (a Artifact) String() string {
	return a.Repository + "@" + a.Digest
}

// Validate reports whether a names a repository and carries a well-formed
// digest. Errors wrap [twostage.ErrInvalid].
func (a Artifact) Validate() error {
	if _, err := ParseRepository(a.Repository); err != nil {
		return err
	}
	if err := ValidateDigest(a.Digest); err != nil {
		return fmt.Errorf("artifact %s: %w", a.Repository, err)
	}
	return nil
}

// Registry stores images and resolves references to artifacts.
//
// Implementations must be safe for concurrent use. Errors wrap the sentinel
// errors of package twostage: [twostage.ErrNotFound] when a reference does
// not exist, [twostage.ErrInvalid] for a malformed reference, and the
// backend's original error stays in the chain.
type Registry interface {
	// Push stores img under ref, "HOST/PATH:TAG", and returns the artifact
	// it became. Pushing the same image under the same tag again is a no-op
	// that returns the same artifact. img is not modified.
	Push(ctx context.Context, ref string, img v1.Image) (Artifact, error)

	// Resolve returns the artifact a reference names. ref is
	// "HOST/PATH:TAG" or "HOST/PATH@sha256:…"; a digest reference resolves
	// only if the registry holds that digest. A missing tag or digest is
	// reported with an error wrapping [twostage.ErrNotFound].
	Resolve(ctx context.Context, ref string) (Artifact, error)
}

// errInvalid formats an error wrapping twostage.ErrInvalid.
func errInvalid(format string, args ...any) error {
	return fmt.Errorf("registry: "+format+": %w", append(args, twostage.ErrInvalid)...)
}
