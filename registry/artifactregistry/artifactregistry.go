package artifactregistry

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	artifactregistry "cloud.google.com/go/artifactregistry/apiv1"
	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/backoff"
	"github.com/twostage/twostage/internal/gcperr"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/registry/oci"
)

// Option configures a [Registry].
type Option func(*config)

type config struct {
	clientOpts []option.ClientOption
	client     *artifactregistry.Client
	ociOpts    []oci.Option
	ociSet     bool
	host       string
	clock      twostage.Clock
	retry      twostage.Retry
	rest       bool // WithREST
}

// WithClientOptions sets options for the Artifact Registry API client that
// New creates, for example an emulator's ClientOptions. The default is
// none: Application Default Credentials and the public endpoint. It is
// ignored when [WithClient] is given.
func WithClientOptions(opts ...option.ClientOption) Option {
	return func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }
}

// WithClient uses a ready-made API client. The Registry does not close
// it. The default is a client New creates (and Close closes).
func WithClient(client *artifactregistry.Client) Option {
	return func(c *config) { c.client = client }
}

// WithRegistryOptions sets the options of the OCI registry client pushes
// go through, for example oci.WithInsecure() for an emulator. The default
// authenticates with Application Default Credentials
// (oci.WithTokenSource(google.DefaultTokenSource(ctx, cloud-platform))).
func WithRegistryOptions(opts ...oci.Option) Option {
	return func(c *config) { c.ociOpts, c.ociSet = append(c.ociOpts, opts...), true }
}

// WithHost sets the Docker registry host of the repository. The default is
// "LOCATION-docker.pkg.dev"; an emulator's RegistryHost() in tests.
func WithHost(host string) Option {
	return func(c *config) { c.host = host }
}

// WithRetry sets how an API read (GetTag, GetVersion) is retried when it
// fails transiently (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED),
// with exponential backoff and jitter on the clock of [WithClock];
// Attempts 1 disables retries. The default is 4 attempts from 250ms
// doubling up to 5s.
func WithRetry(r twostage.Retry) Option {
	return func(c *config) { c.retry = r }
}

// WithClock sets the clock retries wait on. The default is
// [twostage.SystemClock]; tests pass a fake clock so nothing sleeps.
func WithClock(clk twostage.Clock) Option {
	return func(c *config) { c.clock = clk }
}

// defaultRetry is the retry policy of API reads unless [WithRetry] says
// otherwise.
func defaultRetry() twostage.Retry {
	return twostage.Retry{Attempts: 4, Initial: 250 * time.Millisecond, Max: 5 * time.Second}
}

// Registry is one Artifact Registry Docker repository. It is safe for
// concurrent use.
type Registry struct {
	repo      string // projects/P/locations/L/repositories/R
	prefix    string // HOST/P/R/
	client    *artifactregistry.Client
	ownClient bool
	oci       *oci.Registry
	clock     twostage.Clock
	policy    backoff.Policy
	attempts  int
}

var (
	_ registry.Registry = (*Registry)(nil)
	_ registry.Tagger   = (*Registry)(nil)
)

// New returns the Registry for repository,
// "projects/PROJECT/locations/LOCATION/repositories/REPOSITORY". ctx is
// used to create the clients and, with the default credentials, to
// refresh tokens later, so it should outlive the Registry. Close it when
// done.
func New(ctx context.Context, repository string, opts ...Option) (*Registry, error) {
	project, location, repoID, err := parseRepository(repository)
	if err != nil {
		return nil, err
	}
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.host == "" {
		c.host = location + "-docker.pkg.dev"
	}
	if c.clock == nil {
		c.clock = twostage.SystemClock()
	}
	policy, attempts := backoff.FromRetry(c.retry, defaultRetry())
	if attempts < 1 {
		return nil, fmt.Errorf("artifactregistry: WithRetry attempts %d: want at least 1 (1 disables retries): %w", attempts, twostage.ErrInvalid)
	}
	r := &Registry{repo: repository, prefix: c.host + "/" + project + "/" + repoID + "/", clock: c.clock, policy: policy, attempts: attempts}
	if _, err := registry.ParseRepository(strings.TrimSuffix(r.prefix, "/")); err != nil {
		return nil, fmt.Errorf("artifactregistry: repository %s with host %q: %w", repository, c.host, err)
	}
	if !c.ociSet {
		ts, err := google.DefaultTokenSource(ctx, "https://www.googleapis.com/auth/cloud-platform")
		if err != nil {
			return nil, fmt.Errorf("artifactregistry: finding credentials to push to %s (set up Application Default Credentials, or pass WithRegistryOptions): %w", c.host, err)
		}
		c.ociOpts = []oci.Option{oci.WithTokenSource(ts)}
	}
	// The OCI client retries on this registry's clock unless told otherwise.
	if r.oci, err = oci.New(append([]oci.Option{oci.WithClock(c.clock)}, c.ociOpts...)...); err != nil {
		return nil, fmt.Errorf("artifactregistry: %w", err)
	}
	r.client = c.client
	if r.client == nil {
		newClient := artifactregistry.NewClient
		if c.rest {
			newClient = artifactregistry.NewRESTClient
		}
		if r.client, err = newClient(ctx, c.clientOpts...); err != nil {
			return nil, fmt.Errorf("artifactregistry: creating API client: %w", err)
		}
		r.ownClient = true
	}
	return r, nil
}

// Close closes the API client if New created it.
func (r *Registry) Close() error {
	if r.ownClient {
		return r.client.Close()
	}
	return nil
}

// Repository returns the repository resource name.
func (r *Registry) Repository() string { return r.repo }

// Image returns the image repository "HOST/PROJECT/REPOSITORY/IMAGE" of
// an image name such as "api" or "team/api".
func (r *Registry) Image(name string) string { return r.prefix + name }

func parseRepository(name string) (project, location, repo string, err error) {
	p := strings.Split(name, "/")
	if len(p) != 6 || p[0] != "projects" || p[2] != "locations" || p[4] != "repositories" || p[1] == "" || p[3] == "" || p[5] == "" {
		return "", "", "", fmt.Errorf("artifactregistry: repository %q: want projects/PROJECT/locations/LOCATION/repositories/REPOSITORY: %w", name, twostage.ErrInvalid)
	}
	return p[1], p[3], p[5], nil
}

// split parses ref and returns it with the package (image) name.
func (r *Registry) split(op, ref string) (registry.Reference, string, error) {
	parsed, err := registry.ParseReference(ref)
	if err != nil {
		return registry.Reference{}, "", fmt.Errorf("artifactregistry: %s: %w", op, err)
	}
	pkg, ok := strings.CutPrefix(parsed.Repository, r.prefix)
	if !ok || pkg == "" {
		return registry.Reference{}, "", fmt.Errorf("artifactregistry: %s %s: the image is not in repository %s, whose images are %sIMAGE: %w", op, ref, r.repo, r.prefix, twostage.ErrInvalid)
	}
	return parsed, pkg, nil
}

func (r *Registry) packageName(pkg string) string {
	return r.repo + "/packages/" + url.PathEscape(pkg)
}

// Push pushes img to ref, "HOST/PROJECT/REPOSITORY/IMAGE:TAG", over the
// OCI protocol and returns the artifact with img's digest.
func (r *Registry) Push(ctx context.Context, ref string, img v1.Image) (registry.Artifact, error) {
	if _, _, err := r.split("pushing", ref); err != nil {
		return registry.Artifact{}, err
	}
	a, err := r.oci.Push(ctx, ref, img)
	if err != nil {
		return registry.Artifact{}, fmt.Errorf("artifactregistry: repository %s: %w", r.repo, err)
	}
	return a, nil
}

// PushIndex pushes a multi-platform index; see [oci.Registry.PushIndex].
func (r *Registry) PushIndex(ctx context.Context, ref string, idx v1.ImageIndex) (registry.Artifact, error) {
	if _, _, err := r.split("pushing", ref); err != nil {
		return registry.Artifact{}, err
	}
	a, err := r.oci.PushIndex(ctx, ref, idx)
	if err != nil {
		return registry.Artifact{}, fmt.Errorf("artifactregistry: repository %s: %w", r.repo, err)
	}
	return a, nil
}

// Resolve returns the artifact ref names: a tag through GetTag (the digest
// is the last element of the tag's version name), a digest through
// GetVersion.
func (r *Registry) Resolve(ctx context.Context, ref string) (registry.Artifact, error) {
	parsed, pkg, err := r.split("resolving", ref)
	if err != nil {
		return registry.Artifact{}, err
	}
	if parsed.Digest != "" {
		name := r.packageName(pkg) + "/versions/" + parsed.Digest
		err := r.retry(ctx, func(ctx context.Context) error {
			_, err := r.client.GetVersion(ctx, &artifactregistrypb.GetVersionRequest{Name: name})
			return err
		})
		if err != nil {
			return registry.Artifact{}, wrap(err, "resolving %s: getting version %s", ref, name)
		}
		return registry.Artifact{Repository: parsed.Repository, Digest: parsed.Digest}, nil
	}
	name := r.packageName(pkg) + "/tags/" + url.PathEscape(parsed.Tag)
	var tag *artifactregistrypb.Tag
	err = r.retry(ctx, func(ctx context.Context) error {
		var err error
		tag, err = r.client.GetTag(ctx, &artifactregistrypb.GetTagRequest{Name: name})
		return err
	})
	if err != nil {
		return registry.Artifact{}, wrap(err, "resolving %s: getting tag %s", ref, name)
	}
	d := path.Base(tag.GetVersion())
	if err := registry.ValidateDigest(d); err != nil {
		return registry.Artifact{}, fmt.Errorf("artifactregistry: resolving %s: tag %s names version %q, whose id is not a digest: %w", ref, name, tag.GetVersion(), err)
	}
	return registry.Artifact{Repository: parsed.Repository, Digest: d}, nil
}

// retry runs an idempotent read, retrying transient failures.
func (r *Registry) retry(ctx context.Context, read func(ctx context.Context) error) error {
	return backoff.Retry(ctx, r.clock, r.policy, r.attempts, gcperr.Retryable, func(ctx context.Context) error { return gcperr.FromREST(read(ctx)) })
}

// Tag points tag at a.Digest with CreateTag, or UpdateTag when the tag
// exists elsewhere (refused with [twostage.ErrConflict] in a repository
// with immutable tags). Nothing is pushed.
func (r *Registry) Tag(ctx context.Context, a registry.Artifact, tag string) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("artifactregistry: tagging: %w", err)
	}
	_, pkg, err := r.split("tagging", a.Repository+":"+tag)
	if err != nil {
		return err
	}
	parent := r.packageName(pkg)
	version := parent + "/versions/" + a.Digest
	name := parent + "/tags/" + url.PathEscape(tag)
	_, err = r.client.CreateTag(ctx, &artifactregistrypb.CreateTagRequest{
		Parent: parent, TagId: tag, Tag: &artifactregistrypb.Tag{Name: name, Version: version},
	})
	if err == nil {
		return nil
	}
	if err = gcperr.FromREST(err); status.Code(err) != codes.AlreadyExists {
		return wrap(err, "tagging %s as %q: creating tag %s", a, tag, name)
	}
	cur, err := r.client.GetTag(ctx, &artifactregistrypb.GetTagRequest{Name: name})
	if err != nil {
		return wrap(err, "tagging %s as %q: reading existing tag %s", a, tag, name)
	}
	if cur.GetVersion() == version {
		return nil
	}
	_, err = r.client.UpdateTag(ctx, &artifactregistrypb.UpdateTagRequest{Tag: &artifactregistrypb.Tag{Name: name, Version: version}})
	if err != nil {
		return wrap(err, "tagging %s as %q: moving tag %s from %s", a, tag, name, path.Base(cur.GetVersion()))
	}
	return nil
}

// wrap maps a gRPC error to the twostage sentinels and adds the permission
// to grant on PERMISSION_DENIED.
func wrap(err error, format string, args ...any) error {
	msg := "artifactregistry: " + format
	err = gcperr.FromREST(err)
	if status.Code(err) == codes.PermissionDenied || status.Code(err) == codes.Unauthenticated {
		// Roles per https://cloud.google.com/artifact-registry/docs/access-control#roles
		msg += " (the caller needs roles/artifactregistry.reader on the repository to read, roles/artifactregistry.writer to push or tag)"
	}
	return gcperr.Wrap(err, msg, args...)
}
