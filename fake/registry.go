package fake

import (
	"context"
	"fmt"
	"slices"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/registry"
)

// Registry is an in-memory [registry.Registry]. Tags move like on a normal
// (mutable-tag) registry; digests are content identities. Create one with
// [NewRegistry]; seed it with [Registry.Push] or [Registry.Seed]. Registry
// is safe for concurrent use.
type Registry struct {
	funcs     RegistryFuncs  // set by options, read-only afterwards
	clock     twostage.Clock // set by options, read-only afterwards
	immutable bool           // set by options, read-only afterwards

	mu       sync.Mutex          // guards every field below
	repos    map[string]*repo    // by repository "HOST/PATH"
	images   map[string]v1.Image // by "HOST/PATH@DIGEST"; pushed images only
	calls    []Call              // every call, in return order
	nPush    int                 // calls of Push so far
	nResolve int                 // calls of Resolve so far
	nTag     int                 // calls of Tag so far
}

// repo is one repository's tags and digests.
type repo struct {
	tags    map[string]string // tag → digest
	digests map[string]bool   // digests held, pushed or seeded
}

var (
	_ registry.Registry = (*Registry)(nil)
	_ registry.Tagger   = (*Registry)(nil)
)

// RegistryFuncs are optional fault hooks for a [Registry]. A nil function
// passes the call through; a non-nil one is called instead, with n, the
// 1-based number of calls of that method so far (this one included), and
// next, the registry without hooks, whose calls are not recorded in
// [Registry.Calls]. Hooks run with no lock held.
type RegistryFuncs struct {
	// Push intercepts [Registry.Push].
	Push func(ctx context.Context, n int, next registry.Registry, ref string, img v1.Image) (registry.Artifact, error)
	// Resolve intercepts [Registry.Resolve].
	Resolve func(ctx context.Context, n int, next registry.Registry, ref string) (registry.Artifact, error)
	// Tag intercepts [Registry.Tag].
	Tag func(ctx context.Context, n int, next registry.Tagger, a registry.Artifact, tag string) error
}

// NewRegistry returns an empty registry.
func NewRegistry(opts ...RegistryOption) *Registry {
	r := &Registry{
		repos:  make(map[string]*repo),
		images: make(map[string]v1.Image),
	}
	for _, o := range opts {
		o.applyRegistry(r)
	}
	if r.clock == nil {
		r.clock = NewClock(defaultTime())
	}
	return r
}

// Push stores img under ref, "HOST/PATH:TAG", and returns the artifact
// "HOST/PATH@DIGEST" with img's manifest digest. The tag moves to img if it
// named another image, unless the registry has [WithImmutableTags], which
// refuses the push with [twostage.ErrConflict]. ref must carry a tag and no digest; a malformed ref
// fails with an error wrapping [twostage.ErrInvalid]. Pushing the same image
// under the same tag again returns the same artifact.
func (r *Registry) Push(ctx context.Context, ref string, img v1.Image) (registry.Artifact, error) {
	r.mu.Lock()
	r.nPush++
	n := r.nPush
	r.mu.Unlock()
	var (
		a   registry.Artifact
		err error
	)
	if f := r.funcs.Push; f != nil {
		a, err = f(ctx, n, registryCore{r}, ref, img)
	} else {
		a, err = registryCore{r}.Push(ctx, ref, img)
	}
	r.record("Push", ref, err)
	return a, err
}

// Resolve returns the artifact ref names. ref is "HOST/PATH:TAG" or
// "HOST/PATH@sha256:…" (with both, the digest decides and the tag is
// ignored, as in docker pull). A digest resolves only if that repository
// holds it. A missing tag or digest fails with an error wrapping
// [twostage.ErrNotFound] that names ref; a malformed ref, with
// [twostage.ErrInvalid].
func (r *Registry) Resolve(ctx context.Context, ref string) (registry.Artifact, error) {
	r.mu.Lock()
	r.nResolve++
	n := r.nResolve
	r.mu.Unlock()
	var (
		a   registry.Artifact
		err error
	)
	if f := r.funcs.Resolve; f != nil {
		a, err = f(ctx, n, registryCore{r}, ref)
	} else {
		a, err = registryCore{r}.Resolve(ctx, ref)
	}
	r.record("Resolve", ref, err)
	return a, err
}

// Tag points tag at a.Digest in a.Repository without a push, as
// [registry.Tagger] says: the digest must be in the repository
// ([twostage.ErrNotFound] otherwise) and tag valid ([twostage.ErrInvalid]
// otherwise). Tagging a digest with the tag it already has is a no-op;
// moving a tag is refused with [twostage.ErrConflict] under
// [WithImmutableTags].
func (r *Registry) Tag(ctx context.Context, a registry.Artifact, tag string) error {
	r.mu.Lock()
	r.nTag++
	n := r.nTag
	r.mu.Unlock()
	var err error
	if f := r.funcs.Tag; f != nil {
		err = f(ctx, n, registryCore{r}, a, tag)
	} else {
		err = registryCore{r}.Tag(ctx, a, tag)
	}
	r.record("Tag", a.String()+" "+tag, err)
	return err
}

// Seed makes ref, "HOST/PATH:TAG", resolve to digest without storing an
// image (so [Registry.Image] reports none for it), moving the tag if it
// existed (even under [WithImmutableTags]). It is not recorded as a call and
// bypasses the hooks. Seed panics on a malformed ref or digest: it is a
// test helper.
func (r *Registry) Seed(ref, digest string) {
	p, err := parsePushRef(ref)
	if err != nil {
		panic(fmt.Sprintf("fake: Registry.Seed: %v", err))
	}
	if err := registry.ValidateDigest(digest); err != nil {
		panic(fmt.Sprintf("fake: Registry.Seed(%q): %v", ref, err))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.store(p, digest, nil)
}

// Untag removes the tag ref, "HOST/PATH:TAG", as a cleanup policy would;
// the digest stays resolvable. It reports whether the tag existed. Untag
// panics on a malformed ref: it is a test helper.
func (r *Registry) Untag(ref string) bool {
	p, err := parsePushRef(ref)
	if err != nil {
		panic(fmt.Sprintf("fake: Registry.Untag: %v", err))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rp := r.repos[p.Repository]
	if rp == nil {
		return false
	}
	_, ok := rp.tags[p.Tag]
	delete(rp.tags, p.Tag)
	return ok
}

// Image returns the image pushed as a, and false if a was never pushed
// (including when it was only seeded).
func (r *Registry) Image(a registry.Artifact) (v1.Image, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	img, ok := r.images[a.String()]
	return img, ok
}

// Calls returns a copy of the calls of Push, Resolve and Tag so far, in the
// order they returned. The Arg of a Tag call is "REPOSITORY@DIGEST TAG".
func (r *Registry) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *Registry) record(method, arg string, err error) {
	at := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, Call{Method: method, Arg: arg, Err: err, At: at})
}

// store records digest (and img, if not nil) under p. r.mu must be held.
func (r *Registry) store(p registry.Reference, digest string, img v1.Image) {
	rp := r.repos[p.Repository]
	if rp == nil {
		rp = &repo{tags: make(map[string]string), digests: make(map[string]bool)}
		r.repos[p.Repository] = rp
	}
	rp.tags[p.Tag] = digest
	rp.digests[digest] = true
	if img != nil {
		r.images[registry.Artifact{Repository: p.Repository, Digest: digest}.String()] = img
	}
}

// parsePushRef parses a "HOST/PATH:TAG" reference.
func parsePushRef(ref string) (registry.Reference, error) {
	p, err := registry.ParseReference(ref)
	if err != nil {
		return registry.Reference{}, err
	}
	if p.Digest != "" || p.Tag == "" {
		return registry.Reference{}, fmt.Errorf("reference %q must be HOST/PATH:TAG, with a tag and no digest; the digest is the image's own: %w", ref, twostage.ErrInvalid)
	}
	return p, nil
}

// registryCore is the Registry without hooks and call recording: the next
// given to RegistryFuncs.
type registryCore struct{ r *Registry }

func (c registryCore) Push(ctx context.Context, ref string, img v1.Image) (registry.Artifact, error) {
	if err := ctx.Err(); err != nil {
		return registry.Artifact{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	p, err := parsePushRef(ref)
	if err != nil {
		return registry.Artifact{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	if img == nil {
		return registry.Artifact{}, fmt.Errorf("pushing %s: image is nil: %w", ref, twostage.ErrInvalid)
	}
	h, err := img.Digest()
	if err != nil {
		return registry.Artifact{}, fmt.Errorf("pushing %s: computing the image digest: %w", ref, err)
	}
	a := registry.Artifact{Repository: p.Repository, Digest: h.String()}
	if err := a.Validate(); err != nil {
		return registry.Artifact{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	if err := c.r.checkMoveLocked(p.Repository, p.Tag, a.Digest); err != nil {
		return registry.Artifact{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	c.r.store(p, a.Digest, img)
	return a, nil
}

func (c registryCore) Tag(ctx context.Context, a registry.Artifact, tag string) error {
	what := fmt.Sprintf("tagging %s as %q", a, tag)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := a.Validate(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	p, err := parsePushRef(a.Repository + ":" + tag)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	if rp := c.r.repos[a.Repository]; rp == nil || !rp.digests[a.Digest] {
		return fmt.Errorf("%s: repository %s holds no manifest %s; push it first: %w", what, a.Repository, a.Digest, twostage.ErrNotFound)
	}
	if err := c.r.checkMoveLocked(a.Repository, tag, a.Digest); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	c.r.store(p, a.Digest, nil)
	return nil
}

// checkMoveLocked refuses to move tag in repo to digest when tags are
// immutable. r.mu must be held.
func (r *Registry) checkMoveLocked(repo, tag, digest string) error {
	if !r.immutable {
		return nil
	}
	rp := r.repos[repo]
	if rp == nil {
		return nil
	}
	if cur, ok := rp.tags[tag]; ok && cur != digest {
		// Artifact Registry docker_config.immutable_tags; its error text
		// is unverified.
		return fmt.Errorf("tag %q of repository %s names %s and tags are immutable; use a new tag: %w", tag, repo, cur, twostage.ErrConflict)
	}
	return nil
}

func (c registryCore) Resolve(ctx context.Context, ref string) (registry.Artifact, error) {
	if err := ctx.Err(); err != nil {
		return registry.Artifact{}, fmt.Errorf("resolving %s: %w", ref, err)
	}
	p, err := registry.ParseReference(ref)
	if err != nil {
		return registry.Artifact{}, fmt.Errorf("resolving %s: %w", ref, err)
	}
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	rp := c.r.repos[p.Repository]
	if p.Digest != "" {
		if rp == nil || !rp.digests[p.Digest] {
			return registry.Artifact{}, fmt.Errorf("resolving %s: repository %s holds no manifest %s: %w", ref, p.Repository, p.Digest, twostage.ErrNotFound)
		}
		return registry.Artifact{Repository: p.Repository, Digest: p.Digest}, nil
	}
	d, ok := "", false
	if rp != nil {
		d, ok = rp.tags[p.Tag]
	}
	if !ok {
		return registry.Artifact{}, fmt.Errorf("resolving %s: repository %s has no tag %q: %w", ref, p.Repository, p.Tag, twostage.ErrNotFound)
	}
	return registry.Artifact{Repository: p.Repository, Digest: d}, nil
}
