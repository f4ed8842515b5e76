package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	arapi "cloud.google.com/go/artifactregistry/apiv1"
	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/examples/twostage/internal/config"
	"github.com/twostage/twostage/fake/emulation"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/registry/artifactregistry"
	"github.com/twostage/twostage/registry/oci"
	"github.com/twostage/twostage/stage/cloudrun"
)

// EnvEmulatorHost names the environment variable that points every client
// at the local emulator (fake/cmd/emulator), like PUBSUB_EMULATOR_HOST.
const EnvEmulatorHost = "TWOSTAGE_EMULATOR_HOST"

// Endpoints are the emulator's addresses, one per API.
type Endpoints struct {
	// Run is the Cloud Run Admin API v2 gRPC "host:port".
	Run string `json:"run"`
	// ArtifactRegistry is the Artifact Registry API gRPC "host:port".
	ArtifactRegistry string `json:"artifactregistry"`
	// Registry is the OCI registry "host:port" (plain HTTP), the emulated
	// LOCATION-docker.pkg.dev.
	Registry string `json:"registry"`
	// Monitoring is the Cloud Monitoring v3 gRPC "host:port", for
	// rollout.metrics.source cloud-monitoring; optional.
	Monitoring string `json:"monitoring,omitempty"`
	// STSTokenURL is the STS token exchange URL
	// ("http://host:port/v1/token") and IAMCredentials the IAM Credentials
	// base URL ("http://host:port"), for keyless auth against the
	// emulator; optional.
	STSTokenURL    string `json:"stsTokenURL,omitempty"`
	IAMCredentials string `json:"iamCredentials,omitempty"`
}

// DiscoveryPath is where the emulator program serves its Endpoints as
// JSON, on the address TWOSTAGE_EMULATOR_HOST names.
const DiscoveryPath = "/v1/endpoints"

// ParseEmulatorHost reads TWOSTAGE_EMULATOR_HOST. Two forms are accepted:
//
//   - "run=HOST:PORT,artifactregistry=HOST:PORT,registry=HOST:PORT": the
//     addresses themselves (what tests and custom setups use), optionally
//     with monitoring=HOST:PORT (Cloud Monitoring) and sts=HOST:PORT (STS
//     at http://HOST:PORT/v1/token and IAM Credentials at
//     http://HOST:PORT);
//   - "HOST:PORT": the emulator program's discovery address, asked for
//     GET http://HOST:PORT/v1/endpoints (returns Endpoints as JSON, the
//     shape of fake/emulators.Endpoints).
//
// The discovery form is marked by an empty Endpoints and discover set.
func ParseEmulatorHost(v string) (e Endpoints, discover string, err error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return e, "", fmt.Errorf("%s is empty: %w", EnvEmulatorHost, twostage.ErrInvalid)
	}
	if !strings.Contains(v, "=") {
		if strings.ContainsAny(v, "/ ,") {
			return e, "", fmt.Errorf("%s=%q is not HOST:PORT nor run=…,artifactregistry=…,registry=…: %w", EnvEmulatorHost, v, twostage.ErrInvalid)
		}
		return e, v, nil
	}
	for _, kv := range strings.Split(v, ",") {
		k, addr, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if addr == "" || strings.ContainsAny(addr, "/ ") {
			return Endpoints{}, "", fmt.Errorf("%s: %q is not NAME=HOST:PORT: %w", EnvEmulatorHost, kv, twostage.ErrInvalid)
		}
		switch k {
		case "run":
			e.Run = addr
		case "artifactregistry":
			e.ArtifactRegistry = addr
		case "registry":
			e.Registry = addr
		case "monitoring":
			e.Monitoring = addr
		case "sts":
			e.STSTokenURL, e.IAMCredentials = "http://"+addr+"/v1/token", "http://"+addr
		default:
			return Endpoints{}, "", fmt.Errorf("%s: unknown API %q; the names are run, artifactregistry, registry, monitoring and sts: %w", EnvEmulatorHost, k, twostage.ErrInvalid)
		}
	}
	return e, "", e.check()
}

func (e Endpoints) check() error {
	var missing []string
	for _, x := range []struct{ k, v string }{{"run", e.Run}, {"artifactregistry", e.ArtifactRegistry}, {"registry", e.Registry}} {
		if x.v == "" {
			missing = append(missing, x.k)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: the emulator gives no address for %s; the CLI needs Cloud Run, Artifact Registry and an OCI registry: %w", EnvEmulatorHost, strings.Join(missing, ", "), twostage.ErrInvalid)
	}
	return nil
}

// ResolveEmulatorHost returns the Endpoints a TWOSTAGE_EMULATOR_HOST value
// v names: parsed from it, or asked of the emulator program with client
// for the discovery form (see [ParseEmulatorHost]).
func ResolveEmulatorHost(ctx context.Context, client *http.Client, v string) (Endpoints, error) {
	e, discover, err := ParseEmulatorHost(v)
	if err != nil || discover == "" {
		return e, err
	}
	return Discover(ctx, client, discover)
}

// Discover asks the emulator program at addr for its Endpoints.
func Discover(ctx context.Context, client *http.Client, addr string) (Endpoints, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+DiscoveryPath, nil)
	if err != nil {
		return Endpoints{}, fmt.Errorf("%s=%s: %w", EnvEmulatorHost, addr, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return Endpoints{}, fmt.Errorf("asking the emulator at %s for its endpoints (is `twostage emulator` running? It prints the address to export): %w", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return Endpoints{}, fmt.Errorf("asking the emulator at %s for its endpoints: GET %s answered %s; it must serve Endpoints JSON there: %w", addr, DiscoveryPath, resp.Status, twostage.ErrInvalid)
	}
	var e Endpoints
	if err := json.Unmarshal(body, &e); err != nil {
		return Endpoints{}, fmt.Errorf("decoding the emulator's endpoints from %s: %v: %w", addr, err, twostage.ErrInvalid)
	}
	return e, e.check()
}

// Options are what the factory needs besides the configuration.
type Options struct {
	// Emulator, if set, sends every call to the emulator.
	Emulator *Endpoints
	// TokenSource, if set, authenticates to Google Cloud (keyless
	// GitHub OIDC); nil uses Application Default Credentials, or no
	// authentication with the emulator. With the emulator, its tokens go
	// to the gRPC APIs as "authorization: Bearer" metadata over the
	// plain-text connection (see [BearerCredentials]); the OCI registry
	// gets none.
	TokenSource oauth2.TokenSource
	// Clock paces polling and retries.
	Clock twostage.Clock
	// Logger receives the clients' logs.
	Logger *slog.Logger
}

// Backend is what the pipeline runs on.
type Backend struct {
	// Registry holds the images; Repository is the image repository
	// "HOST/PROJECT/REPOSITORY/IMAGE".
	Registry   registry.Registry
	Repository string
	// AR is the Artifact Registry repository, for checks.
	AR *artifactregistry.Registry
	// Dev and Prod are the two services; Prod is in the primary region.
	Dev, Prod *cloudrun.Service
	// Prods are the prod service in every prod region, Prod first, in
	// the order of config.Regions.
	Prods []*cloudrun.Service
	// Emulated reports whether the backend is the local emulator.
	Emulated bool
	// ClientOptions reach the APIs (for the CLI's own calls, such as
	// creating the repository in the emulator); RunOptions reach Cloud
	// Run (ClientOptions plus the emulator's endpoint).
	ClientOptions, RunOptions []option.ClientOption
	// MonitoringOptions reach Cloud Monitoring (ClientOptions plus the
	// emulator's endpoint), or are nil when the emulator serves none.
	MonitoringOptions []option.ClientOption
	// DataPlane is the emulator's "host:port" that serves requests to
	// *.run.app URLs (the Cloud Run emulator's data plane); empty against
	// Google Cloud.
	DataPlane string

	closers []func() error
}

var _ pipeline.Service = (*cloudrun.Service)(nil)

// Open builds the backend for cfg.
func Open(ctx context.Context, cfg *config.Config, o Options) (*Backend, error) {
	if o.Clock == nil {
		o.Clock = twostage.SystemClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Backend{}
	var arOpts []artifactregistry.Option
	switch {
	case o.Emulator != nil:
		b.Emulated, b.DataPlane = true, o.Emulator.Run
		b.ClientOptions = []option.ClientOption{
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		}
		if o.TokenSource != nil {
			b.ClientOptions = append(b.ClientOptions, option.WithGRPCDialOption(grpc.WithPerRPCCredentials(emulation.BearerCredentials{Source: o.TokenSource})))
		}
		arOpts = []artifactregistry.Option{
			artifactregistry.WithClientOptions(append([]option.ClientOption{option.WithEndpoint(o.Emulator.ArtifactRegistry)}, b.ClientOptions...)...),
			artifactregistry.WithHost(o.Emulator.Registry),
			artifactregistry.WithRegistryOptions(oci.WithInsecure()),
		}
		if err := ensureRepository(ctx, cfg, append([]option.ClientOption{option.WithEndpoint(o.Emulator.ArtifactRegistry)}, b.ClientOptions...)); err != nil {
			return nil, err
		}
	case o.TokenSource != nil:
		b.ClientOptions = []option.ClientOption{option.WithTokenSource(o.TokenSource)}
		arOpts = []artifactregistry.Option{
			artifactregistry.WithClientOptions(b.ClientOptions...),
			artifactregistry.WithRegistryOptions(oci.WithTokenSource(o.TokenSource)),
		}
	}
	ar, err := artifactregistry.New(ctx, cfg.RepositoryName(), arOpts...)
	if err != nil {
		return nil, fmt.Errorf("opening Artifact Registry repository %s: %w", cfg.RepositoryName(), err)
	}
	b.closers = append(b.closers, ar.Close)
	b.AR, b.Registry, b.Repository = ar, ar, ar.Image(cfg.Registry.Image)

	runOpts := b.ClientOptions
	b.MonitoringOptions = b.ClientOptions
	if o.Emulator != nil {
		runOpts = append([]option.ClientOption{option.WithEndpoint(o.Emulator.Run)}, b.ClientOptions...)
		b.MonitoringOptions = nil
		if o.Emulator.Monitoring != "" {
			b.MonitoringOptions = append([]option.ClientOption{option.WithEndpoint(o.Emulator.Monitoring)}, b.ClientOptions...)
		}
	}
	b.RunOptions = runOpts
	type want struct {
		name string
		dst  **cloudrun.Service
	}
	wants := []want{{cfg.ServiceName(cfg.Services.Dev), &b.Dev}}
	b.Prods = make([]*cloudrun.Service, len(cfg.Regions()))
	for i, r := range cfg.Regions() {
		wants = append(wants, want{cfg.ServiceNameIn(r, cfg.Services.Prod), &b.Prods[i]})
	}
	for _, s := range wants {
		svc, err := cloudrun.New(ctx, s.name,
			cloudrun.WithClientOptions(runOpts...),
			cloudrun.WithClock(o.Clock),
			cloudrun.WithLogger(o.Logger))
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("opening Cloud Run service %s: %w", s.name, err)
		}
		b.closers = append(b.closers, svc.Close)
		*s.dst = svc
	}
	b.Prod = b.Prods[0]
	return b, nil
}

// AddCloser registers f to run at Close, for clients built on the
// backend's options (a Cloud Monitoring client).
func (b *Backend) AddCloser(f func() error) { b.closers = append(b.closers, f) }

// Close closes every client.
func (b *Backend) Close() error {
	var errs []error
	for _, c := range b.closers {
		errs = append(errs, c())
	}
	b.closers = nil
	return errors.Join(errs...)
}

// ensureRepository creates the Artifact Registry repository in the
// emulator if it is missing (DOCKER format, immutable tags), so local play
// needs no setup step. It is never called against Google Cloud, where the
// repository is created once by an administrator (see `twostage doctor`).
func ensureRepository(ctx context.Context, cfg *config.Config, opts []option.ClientOption) error {
	c, err := arapi.NewClient(ctx, opts...)
	if err != nil {
		return fmt.Errorf("connecting to the emulated Artifact Registry: %w", err)
	}
	defer c.Close()
	name := cfg.RepositoryName()
	if _, err := c.GetRepository(ctx, &artifactregistrypb.GetRepositoryRequest{Name: name}); err == nil {
		return nil
	} else if status.Code(err) != codes.NotFound {
		return fmt.Errorf("reading repository %s in the emulator: %w", name, err)
	}
	op, err := c.CreateRepository(ctx, &artifactregistrypb.CreateRepositoryRequest{
		Parent:       fmt.Sprintf("projects/%s/locations/%s", cfg.Project, cfg.Registry.Location),
		RepositoryId: cfg.Registry.Repository,
		Repository: &artifactregistrypb.Repository{
			Format:       artifactregistrypb.Repository_DOCKER,
			FormatConfig: &artifactregistrypb.Repository_DockerConfig{DockerConfig: &artifactregistrypb.Repository_DockerRepositoryConfig{ImmutableTags: true}},
		},
	})
	if err != nil {
		if status.Code(err) == codes.AlreadyExists {
			return nil
		}
		return fmt.Errorf("creating repository %s in the emulator: %w", name, err)
	}
	if _, err := op.Wait(ctx); err != nil {
		return fmt.Errorf("creating repository %s in the emulator: %w", name, err)
	}
	return nil
}
