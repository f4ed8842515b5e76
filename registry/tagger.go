package registry

import "context"

// Tagger is an optional extension of [Registry] for backends that can add
// a tag to an image they already hold without pushing it again, for
// example a release tag "v1.4.2" on the digest a commit built. Detect it
// with a type assertion:
//
//	if t, ok := reg.(registry.Tagger); ok { err = t.Tag(ctx, a, "v1.4.2") }
//
// Implementations must be safe for concurrent use.
type Tagger interface {
	// Tag points tag at a.Digest in a.Repository. The digest must already
	// be in the repository ([twostage.ErrNotFound] otherwise); tag must be a
	// valid tag ([twostage.ErrInvalid] otherwise). Moving an existing tag
	// may be refused by the backend, for example in a repository with
	// immutable tags ([twostage.ErrConflict]). Tagging a digest with the
	// tag it already has is a no-op.
	Tag(ctx context.Context, a Artifact, tag string) error
}
