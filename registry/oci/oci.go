package oci

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/google"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/oauth2"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/backoff"
	"github.com/twostage/twostage/registry"
)

// Option configures a [Registry].
type Option func(*config)

type config struct {
	auth      authn.Authenticator
	keychain  authn.Keychain
	ts        oauth2.TokenSource
	transport http.RoundTripper
	insecure  bool
	remote    []remote.Option
	clock     twostage.Clock
	retry     twostage.Retry
}

// defaultRetry mirrors go-containerregistry's own default (3 tries, 1 s
// then 3 s), which New turns off so that retries wait on the injected
// clock instead of the wall clock.
func defaultRetry() twostage.Retry {
	return twostage.Retry{Attempts: 3, Initial: time.Second, Max: 9 * time.Second}
}

// WithClock sets the clock retries wait on. The default is
// [twostage.SystemClock]; tests pass a fake clock so no retry sleeps.
func WithClock(c twostage.Clock) Option {
	return func(cfg *config) { cfg.clock = c }
}

// WithRetry sets how Push, Resolve and Tag retry a transient registry
// failure (HTTP 408, 429 and 5xx, which go-containerregistry marks
// temporary): each retry repeats the whole operation, which is idempotent
// (blobs and manifests already present are not uploaded again). The
// default is 3 attempts, 1 s doubling to 9 s, with jitter.
func WithRetry(r twostage.Retry) Option {
	return func(cfg *config) { cfg.retry = r }
}

// WithAuth sets the credentials sent to the registry. The default is
// [authn.Anonymous]. It conflicts with [WithKeychain] and [WithTokenSource].
func WithAuth(a authn.Authenticator) Option {
	return func(c *config) { c.auth = a }
}

// WithKeychain looks credentials up per registry host, for example
// [authn.DefaultKeychain] (the Docker config and credential helpers). The
// default is no keychain (anonymous). It conflicts with [WithAuth] and
// [WithTokenSource].
func WithKeychain(k authn.Keychain) Option {
	return func(c *config) { c.keychain = k }
}

// WithTokenSource authenticates with OAuth2 access tokens from ts, the way
// Artifact Registry (*.pkg.dev) and Container Registry expect: basic
// authentication with the access token as password (go-containerregistry's
// google.NewTokenSourceAuthenticator). ts must be safe for concurrent use.
// The default is no token source (anonymous). It conflicts with [WithAuth]
// and [WithKeychain].
func WithTokenSource(ts oauth2.TokenSource) Option {
	return func(c *config) { c.ts = ts }
}

// WithTransport sets the HTTP transport. The default is
// remote.DefaultTransport.
func WithTransport(t http.RoundTripper) Option {
	return func(c *config) { c.transport = t }
}

// WithInsecure talks plain HTTP to the registry, for a registry on a
// loopback or private address. The default is HTTPS, except for the hosts
// go-containerregistry already treats as local (localhost, 127.0.0.0/8,
// private ranges).
func WithInsecure() Option {
	return func(c *config) { c.insecure = true }
}

// WithRemoteOptions appends options to every go-containerregistry remote
// call, for example remote.WithUserAgent. They are applied after the
// options above (go-containerregistry's own retries, which sleep on the
// wall clock, are off unless these turn them on again; use [WithRetry]).
// The default is none.
func WithRemoteOptions(opts ...remote.Option) Option {
	return func(c *config) { c.remote = append(c.remote, opts...) }
}

// Registry is a [registry.Registry] and [registry.Tagger] over an OCI
// distribution registry. It is safe for concurrent use; create one and
// share it, since it caches authenticated connections per repository.
type Registry struct {
	nameOpts []name.Option
	puller   *remote.Puller
	pusher   *remote.Pusher
	clock    twostage.Clock
	policy   backoff.Policy
	attempts int
}

var (
	_ registry.Registry = (*Registry)(nil)
	_ registry.Tagger   = (*Registry)(nil)
)

// New returns a Registry configured by opts. It fails, wrapping
// [twostage.ErrInvalid], when more than one way to authenticate is given.
func New(opts ...Option) (*Registry, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	n := 0
	for _, set := range []bool{c.auth != nil, c.keychain != nil, c.ts != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, fmt.Errorf("oci: WithAuth, WithKeychain and WithTokenSource are exclusive, %d were given: %w", n, twostage.ErrInvalid)
	}
	var ropts []remote.Option
	switch {
	case c.keychain != nil:
		ropts = append(ropts, remote.WithAuthFromKeychain(c.keychain))
	case c.ts != nil:
		ropts = append(ropts, remote.WithAuth(google.NewTokenSourceAuthenticator(c.ts)))
	case c.auth != nil:
		ropts = append(ropts, remote.WithAuth(c.auth))
	default:
		ropts = append(ropts, remote.WithAuth(authn.Anonymous))
	}
	if c.transport != nil {
		ropts = append(ropts, remote.WithTransport(c.transport))
	}
	if c.clock == nil {
		c.clock = twostage.SystemClock()
	}
	policy, attempts := backoff.FromRetry(c.retry, defaultRetry())
	if attempts < 1 {
		return nil, fmt.Errorf("oci: WithRetry attempts %d: want at least 1 (1 disables retries): %w", attempts, twostage.ErrInvalid)
	}
	// Retries happen in Registry.retry, on the injected clock.
	ropts = append(ropts, remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
		remote.WithRetryPredicate(func(error) bool { return false }), remote.WithRetryStatusCodes())
	ropts = append(ropts, c.remote...)
	puller, err := remote.NewPuller(ropts...)
	if err != nil {
		return nil, fmt.Errorf("oci: configuring puller: %w", err)
	}
	pusher, err := remote.NewPusher(ropts...)
	if err != nil {
		return nil, fmt.Errorf("oci: configuring pusher: %w", err)
	}
	r := &Registry{nameOpts: []name.Option{name.StrictValidation}, puller: puller, pusher: pusher, clock: c.clock, policy: policy, attempts: attempts}
	if c.insecure {
		r.nameOpts = append(r.nameOpts, name.Insecure)
	}
	return r, nil
}

// Push writes img to ref, "HOST/PATH:TAG", and returns the artifact with
// img's digest. If the tag already names that digest nothing is uploaded.
// A ref that also carries a digest must carry img's digest.
func (r *Registry) Push(ctx context.Context, ref string, img v1.Image) (registry.Artifact, error) {
	if img == nil {
		return registry.Artifact{}, fmt.Errorf("oci: pushing %s: image is nil: %w", ref, twostage.ErrInvalid)
	}
	d, err := img.Digest()
	if err != nil {
		return registry.Artifact{}, fmt.Errorf("oci: pushing %s: computing the image digest: %w", ref, err)
	}
	return r.push(ctx, ref, d, img)
}

// PushIndex writes a multi-platform image index to ref, "HOST/PATH:TAG",
// and returns the artifact with the index digest. Cloud Run runs only
// linux/amd64 images, so an index without a linux/amd64 entry is refused
// with an error wrapping [twostage.ErrInvalid] that lists the platforms it
// has.
func (r *Registry) PushIndex(ctx context.Context, ref string, idx v1.ImageIndex) (registry.Artifact, error) {
	if idx == nil {
		return registry.Artifact{}, fmt.Errorf("oci: pushing %s: index is nil: %w", ref, twostage.ErrInvalid)
	}
	if err := CheckPlatforms(idx); err != nil {
		return registry.Artifact{}, fmt.Errorf("oci: pushing %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return registry.Artifact{}, fmt.Errorf("oci: pushing %s: computing the index digest: %w", ref, err)
	}
	return r.push(ctx, ref, d, idx)
}

// CheckPlatforms reports whether idx has a linux/amd64 image, the platform
// Cloud Run runs. The error wraps [twostage.ErrInvalid] and names the
// platforms found.
func CheckPlatforms(idx v1.ImageIndex) error {
	m, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("reading the index manifest: %w", err)
	}
	var found []string
	for _, desc := range m.Manifests {
		if desc.Platform == nil {
			found = append(found, "unknown")
			continue
		}
		if desc.Platform.OS == "linux" && desc.Platform.Architecture == "amd64" {
			return nil
		}
		found = append(found, desc.Platform.String())
	}
	slices.Sort(found)
	found = slices.Compact(found)
	if len(found) == 0 {
		found = []string{"none"}
	}
	return fmt.Errorf("image index has no linux/amd64 image, which Cloud Run requires (platforms: %s); build for linux/amd64 too: %w",
		strings.Join(found, ", "), twostage.ErrInvalid)
}

func (r *Registry) push(ctx context.Context, ref string, d v1.Hash, t remote.Taggable) (registry.Artifact, error) {
	parsed, err := registry.ParseReference(ref)
	if err != nil {
		return registry.Artifact{}, fmt.Errorf("oci: pushing: %w", err)
	}
	if parsed.Tag == "" {
		return registry.Artifact{}, fmt.Errorf("oci: pushing %s: a tag is required, for example %s:COMMIT_SHA: %w", ref, parsed.Repository, twostage.ErrInvalid)
	}
	if parsed.Digest != "" && parsed.Digest != d.String() {
		return registry.Artifact{}, fmt.Errorf("oci: pushing %s: the reference names digest %s but the image is %s: %w", ref, parsed.Digest, d, twostage.ErrInvalid)
	}
	a := registry.Artifact{Repository: parsed.Repository, Digest: d.String()}
	tag, err := name.NewTag(parsed.Repository+":"+parsed.Tag, r.nameOpts...)
	if err != nil {
		return registry.Artifact{}, fmt.Errorf("oci: pushing %s: %v: %w", ref, err, twostage.ErrInvalid)
	}
	// A tag that already names the digest needs no upload: this keeps a
	// re-run pipeline from writing anything.
	err = r.retry(ctx, func(ctx context.Context) error {
		if desc, err := r.puller.Head(ctx, tag); err == nil && desc.Digest == d {
			return nil
		}
		return r.pusher.Push(ctx, tag, t)
	})
	if err != nil {
		return registry.Artifact{}, mapErr(err, "pushing "+ref, tag.RegistryStr(), "push")
	}
	return a, nil
}

// Resolve returns the artifact ref names with one HEAD request, falling back
// to GET for registries that omit the Docker-Content-Digest header.
func (r *Registry) Resolve(ctx context.Context, ref string) (registry.Artifact, error) {
	parsed, err := registry.ParseReference(ref)
	if err != nil {
		return registry.Artifact{}, fmt.Errorf("oci: resolving: %w", err)
	}
	nref, err := r.nameRef(parsed)
	if err != nil {
		return registry.Artifact{}, fmt.Errorf("oci: resolving %s: %v: %w", ref, err, twostage.ErrInvalid)
	}
	var d v1.Hash
	err = r.retry(ctx, func(ctx context.Context) (err error) {
		d, err = r.head(ctx, nref)
		return err
	})
	if err != nil {
		return registry.Artifact{}, mapErr(err, "resolving "+ref, nref.Context().RegistryStr(), "pull")
	}
	return registry.Artifact{Repository: parsed.Repository, Digest: d.String()}, nil
}

// Tag points tag at a.Digest, copying the manifest without its blobs.
func (r *Registry) Tag(ctx context.Context, a registry.Artifact, tag string) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("oci: tagging: %w", err)
	}
	if _, err := registry.ParseReference(a.Repository + ":" + tag); err != nil {
		return fmt.Errorf("oci: tagging %s: %w", a, err)
	}
	dref, err := name.NewDigest(a.String(), r.nameOpts...)
	if err != nil {
		return fmt.Errorf("oci: tagging %s: %v: %w", a, err, twostage.ErrInvalid)
	}
	tref, err := name.NewTag(a.Repository+":"+tag, r.nameOpts...)
	if err != nil {
		return fmt.Errorf("oci: tagging %s as %q: %v: %w", a, tag, err, twostage.ErrInvalid)
	}
	op := "pull"
	err = r.retry(ctx, func(ctx context.Context) error {
		if desc, err := r.puller.Head(ctx, tref); err == nil && desc.Digest.String() == a.Digest {
			return nil
		}
		op = "pull"
		desc, err := r.puller.Get(ctx, dref)
		if err != nil {
			return err
		}
		op = "push"
		return r.pusher.Put(ctx, tref, desc)
	})
	if err != nil {
		return mapErr(err, fmt.Sprintf("tagging %s as %q", a, tag), dref.RegistryStr(), op)
	}
	return nil
}

// retry runs fn until it succeeds, fails for good, or the attempts are
// used up, waiting on the injected clock between attempts. Errors that
// go-containerregistry marks temporary are retried.
func (r *Registry) retry(ctx context.Context, fn func(ctx context.Context) error) error {
	return backoff.Retry(ctx, r.clock, r.policy, r.attempts, twostage.IsTemporary, fn)
}

func (r *Registry) nameRef(p registry.Reference) (name.Reference, error) {
	if p.Digest != "" {
		// A digest pins the content; a tag beside it is only informative.
		return name.NewDigest(p.Repository+"@"+p.Digest, r.nameOpts...)
	}
	return name.NewTag(p.Repository+":"+p.Tag, r.nameOpts...)
}

func (r *Registry) head(ctx context.Context, ref name.Reference) (v1.Hash, error) {
	desc, err := r.puller.Head(ctx, ref)
	if err == nil {
		return desc.Digest, nil
	}
	var terr *transport.Error
	if errors.As(err, &terr) || ctx.Err() != nil {
		return v1.Hash{}, err
	}
	// Not an HTTP error: most likely a registry that answers HEAD without a
	// Docker-Content-Digest header. GET computes the digest from the body.
	full, gerr := r.puller.Get(ctx, ref)
	if gerr != nil {
		return v1.Hash{}, gerr
	}
	return full.Digest, nil
}

// mapErr translates a go-containerregistry error to the twostage
// sentinels, keeping it in the chain. op is "push" or "pull".
func mapErr(err error, what, host, op string) error {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return fmt.Errorf("oci: %s: %w", what, err)
	}
	switch terr.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("oci: %s: %w: %w", what, twostage.ErrNotFound, err)
	case http.StatusUnauthorized, http.StatusForbidden:
		// Permission and role names from
		// https://cloud.google.com/artifact-registry/docs/access-control#permissions
		perm, role := "artifactregistry.repositories.downloadArtifacts", "roles/artifactregistry.reader"
		if op == "push" {
			perm, role = "artifactregistry.repositories.uploadArtifacts", "roles/artifactregistry.writer"
		}
		return fmt.Errorf("oci: %s: registry %s refused the credentials (HTTP %d): the caller needs %s access; on Artifact Registry grant %s (permission %s) on the repository: %w",
			what, host, terr.StatusCode, op, role, perm, err)
	case http.StatusConflict, http.StatusPreconditionFailed:
		// For example a push that would move an immutable tag.
		return fmt.Errorf("oci: %s: %w: %w", what, twostage.ErrConflict, err)
	case http.StatusBadRequest:
		for _, d := range terr.Errors {
			switch d.Code {
			case transport.NameInvalidErrorCode, transport.TagInvalidErrorCode, transport.ManifestInvalidErrorCode, transport.DigestInvalidErrorCode:
				return fmt.Errorf("oci: %s: %w: %w", what, twostage.ErrInvalid, err)
			}
		}
	}
	for _, d := range terr.Errors {
		if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
			return fmt.Errorf("oci: %s: %w: %w", what, twostage.ErrNotFound, err)
		}
	}
	return fmt.Errorf("oci: %s: %w", what, err)
}
