package emulators

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	"cloud.google.com/go/iam/apiv1/iampb"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake/artifactregistryfake"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/fake/emulation"
	"github.com/twostage/twostage/fake/iamfake"
	"github.com/twostage/twostage/fake/monitoringfake"
	"github.com/twostage/twostage/fake/resourcemanagerfake"
	"github.com/twostage/twostage/fake/stsfake"
	"github.com/twostage/twostage/internal/emulator"
)

// EnvEmulatorHost is the environment variable that names the shared
// address, like PUBSUB_EMULATOR_HOST: "127.0.0.1:PORT".
const EnvEmulatorHost = "TWOSTAGE_EMULATOR_HOST"

// DiscoveryPath is where the shared address answers GET with [Endpoints]
// as JSON.
const DiscoveryPath = "/v1/endpoints"

// Option configures [Start].
type Option func(*config)

type config struct {
	iamMode               iamMode
	addr                  string
	project, region, repo string
	number                string // the project's number
	clock                 twostage.Clock
	logger                *slog.Logger
	crun                  []cloudrunfake.Option
	ar                    []artifactregistryfake.Option
	rm                    []resourcemanagerfake.Option
	iam                   []iamfake.Option
	sts                   []stsfake.Option
	mon                   []monitoringfake.Option
}

// iamMode is how the set enforces IAM.
type iamMode int

const (
	iamOn     iamMode = iota // the default: tokens are checked, no token is the owner
	iamStrict                // a call needs a token
	iamOff                   // nothing is checked
)

// WithStrictIAM makes every call to Cloud Run, Artifact Registry (API and
// OCI registry), Resource Manager and Cloud Monitoring need a bearer
// token: one without is UNAUTHENTICATED (the registry answers 401 with a
// Basic challenge). By default a call
// with a token is checked against the IAM policies and a call without one
// acts as the project owner.
func WithStrictIAM() Option { return func(c *config) { c.iamMode = iamStrict } }

// WithoutIAM turns IAM enforcement off: every call is allowed, whatever
// its token. The default checks calls that carry a token (see
// [WithStrictIAM]).
func WithoutIAM() Option { return func(c *config) { c.iamMode = iamOff } }

// WithProjectNumber sets the number of the project of [WithProject]:
// Resource Manager knows the project by it, and Cloud Run derives the
// deterministic service URL and the default runtime service account from
// it. The default is "123456789012".
func WithProjectNumber(n string) Option { return func(c *config) { c.number = n } }

// WithAddress sets the TCP address the set listens on. The default is
// "127.0.0.1:0" (loopback, a free port).
func WithAddress(addr string) Option { return func(c *config) { c.addr = addr } }

// WithProject sets the project ID of the seeded Artifact Registry
// repository. The default is "my-project", the default of `twostage init`.
func WithProject(id string) Option { return func(c *config) { c.project = id } }

// WithRegion sets the location of the seeded Artifact Registry repository.
// The default is "us-central1".
func WithRegion(region string) Option { return func(c *config) { c.region = region } }

// WithRepository sets the ID of the DOCKER repository seeded in the
// project and region, so that a fresh `twostage dev` can push; "" seeds
// none. The default is "apps", the default of `twostage init`.
func WithRepository(id string) Option { return func(c *config) { c.repo = id } }

// WithClock sets the clock of every emulator that keeps time (Cloud Run:
// timestamps, write quota, injected latency; Artifact Registry; STS token
// lifetimes). The default is [twostage.SystemClock].
func WithClock(clock twostage.Clock) Option { return func(c *config) { c.clock = clock } }

// WithLogger sets the logger of the emulators and of the HTTP server. The
// default discards everything.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithCloudRunOptions adds options of the Cloud Run emulator, applied
// after the set's own (WithManualOperations, WithFailingImage, ...). Its
// listener options are ignored: the set mounts it on the shared address.
// The default is none.
func WithCloudRunOptions(opts ...cloudrunfake.Option) Option {
	return func(c *config) { c.crun = append(c.crun, opts...) }
}

// WithArtifactRegistryOptions adds options of the Artifact Registry
// emulator (more repositories, ...), applied after the set's own except
// its listener and registry host. The default is none.
func WithArtifactRegistryOptions(opts ...artifactregistryfake.Option) Option {
	return func(c *config) { c.ar = append(c.ar, opts...) }
}

// WithResourceManagerOptions adds options of the Resource Manager emulator
// (projects and their policies). The default is none: every project is
// unknown.
func WithResourceManagerOptions(opts ...resourcemanagerfake.Option) Option {
	return func(c *config) { c.rm = append(c.rm, opts...) }
}

// WithIAMOptions adds options of the IAM emulator (project numbers,
// service accounts). The default is none.
func WithIAMOptions(opts ...iamfake.Option) Option {
	return func(c *config) { c.iam = append(c.iam, opts...) }
}

// WithSTSOptions adds options of the STS/OIDC emulator, applied after the
// set's clock and logger. The default is none.
func WithSTSOptions(opts ...stsfake.Option) Option {
	return func(c *config) { c.sts = append(c.sts, opts...) }
}

// WithMonitoringOptions adds options of the Cloud Monitoring emulator
// (ingestion delay, sample period, ...), applied after the set's clock and
// logger. The default is none.
func WithMonitoringOptions(opts ...monitoringfake.Option) Option {
	return func(c *config) { c.mon = append(c.mon, opts...) }
}

// Endpoints are the addresses of every emulated API; on a [Set] they all
// name the one shared address. GET [DiscoveryPath] answers them as JSON.
type Endpoints struct {
	// Run is the Cloud Run Admin API v2 gRPC "host:port".
	Run string `json:"run"`
	// ArtifactRegistry is the Artifact Registry API gRPC "host:port".
	ArtifactRegistry string `json:"artifactregistry"`
	// Registry is the OCI registry "host:port" (plain HTTP), the emulated
	// LOCATION-docker.pkg.dev.
	Registry string `json:"registry"`
	// ResourceManager is the Resource Manager v3 gRPC "host:port".
	ResourceManager string `json:"resourcemanager"`
	// Monitoring is the Cloud Monitoring v3 gRPC "host:port".
	Monitoring string `json:"monitoring"`
	// REST is the base URL, "http://host:port", of the REST/JSON surface
	// of the gRPC APIs above (Cloud Run, Artifact Registry, Resource
	// Manager, Monitoring): the endpoint of their REST clients.
	REST string `json:"rest"`
	// IAM is the IAM v1 REST base URL, "http://host:port/".
	IAM string `json:"iam"`
	// STSTokenURL is the STS token exchange URL, "http://host:port/v1/token".
	STSTokenURL string `json:"stsTokenURL"`
	// IAMCredentials is the IAM Credentials base URL, "http://host:port".
	IAMCredentials string `json:"iamCredentials"`
	// OIDCDiscovery is the OIDC issuer's discovery document URL.
	OIDCDiscovery string `json:"oidcDiscovery"`
	// ActionsTokenURL is the GitHub Actions ID token request URL
	// (ACTIONS_ID_TOKEN_REQUEST_URL).
	ActionsTokenURL string `json:"actionsTokenURL"`
	// Admin is the admin API's base URL, "http://host:port" + [AdminPath].
	Admin string `json:"admin"`
}

// Set is every emulator served on one address. Its methods are safe for
// concurrent use.
type Set struct {
	// Addr is the shared "host:port": the value of TWOSTAGE_EMULATOR_HOST.
	Addr string

	cfg      config
	crun     *cloudrunfake.Server
	ar       *artifactregistryfake.Server
	rm       *resourcemanagerfake.Server
	iam      *iamfake.Server
	sts      *stsfake.Server
	mon      *monitoringfake.Server
	grpc     *grpc.Server
	services []string // gRPC services served
	table    []Route
	rest     http.Handler // REST/JSON of the gRPC services (emulator.REST)
	hs       *http.Server
	served   chan struct{} // closed when hs.Serve returns
	client   *http.Client  // HTTPClient; its transport is closed by Close
	stop     func() bool   // stops the context.AfterFunc of Start

	mu       sync.Mutex // guards closing and inflight.Add
	closing  bool
	inflight sync.WaitGroup // requests being served

	once     sync.Once
	closeErr error
}

// Start listens on the address of [WithAddress], starts every emulator and
// serves them all there until [Set.Close] or until ctx is done. Close it
// when done; Close waits until every request has ended.
func Start(ctx context.Context, opts ...Option) (*Set, error) {
	cfg := config{addr: "127.0.0.1:0", project: "my-project", number: "123456789012", region: "us-central1", repo: "apps"}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.clock == nil {
		cfg.clock = twostage.SystemClock()
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("emulators: starting: %w", err)
	}
	lis, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("emulators: listening on %q: %w", cfg.addr, err)
	}
	s := &Set{Addr: lis.Addr().String(), cfg: cfg, served: make(chan struct{})}
	if err := s.start(); err != nil {
		_ = lis.Close()
		s.closeEmulators()
		return nil, err
	}
	s.hs = &http.Server{
		Handler:           s,
		Protocols:         new(http.Protocols),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.logger.Handler(), slog.LevelDebug),
	}
	// gRPC clients speak HTTP/2 without TLS ("prior knowledge"); the
	// standard library serves it beside HTTP/1.1 (golang.org/x/net's h2c
	// is deprecated in its favour).
	s.hs.Protocols.SetHTTP1(true)
	s.hs.Protocols.SetUnencryptedHTTP2(true)
	go func() {
		defer close(s.served)
		_ = s.hs.Serve(lis) // returns http.ErrServerClosed after Close
	}()
	s.stop = context.AfterFunc(ctx, func() { _ = s.Close() })
	cfg.logger.Info("emulators serving", "addr", s.Addr)
	return s, nil
}

// start creates the emulators and the routing table.
func (s *Set) start() error {
	cfg := s.cfg
	var err error
	crunIAM := []cloudrunfake.Option{}
	arIAM := []artifactregistryfake.Option{}
	var rmIAM []resourcemanagerfake.Option
	var monIAM []monitoringfake.Option
	if cfg.iamMode != iamOff {
		enf := emulation.IAM{Resolve: s.resolve, Policy: s.policy, Strict: cfg.iamMode == iamStrict}
		crunIAM = append(crunIAM, cloudrunfake.WithIAM(enf))
		arIAM = append(arIAM, artifactregistryfake.WithIAM(enf))
		rmIAM = append(rmIAM, resourcemanagerfake.WithIAM(enf))
		monIAM = append(monIAM, monitoringfake.WithIAM(enf))
	}
	monOpts := append(append([]monitoringfake.Option{monitoringfake.WithClock(cfg.clock), monitoringfake.WithLogger(cfg.logger)}, monIAM...), cfg.mon...)
	if s.mon, err = monitoringfake.NewServer(append(monOpts, monitoringfake.WithoutListener())...); err != nil {
		return fmt.Errorf("emulators: starting Cloud Monitoring: %w", err)
	}
	// The data plane records every request in Cloud Monitoring and runs
	// images pulled from the emulated registry.
	crunOpts := append([]cloudrunfake.Option{
		cloudrunfake.WithClock(cfg.clock), cloudrunfake.WithLogger(cfg.logger), cloudrunfake.WithMonitoring(s.mon),
		cloudrunfake.WithProjectNumber(cfg.project, cfg.number),
		cloudrunfake.WithImageSource(func(ctx context.Context, image string) (v1.Image, error) {
			return cloudrunfake.RegistryImages(s.Addr, s.ar.ServiceAgentOCIHandler())(ctx, image)
		}),
	}, append(crunIAM, cfg.crun...)...)
	if s.crun, err = cloudrunfake.NewServer(append(crunOpts, cloudrunfake.WithoutListener())...); err != nil {
		return fmt.Errorf("emulators: starting Cloud Run: %w", err)
	}
	arOpts := append([]artifactregistryfake.Option{artifactregistryfake.WithClock(cfg.clock), artifactregistryfake.WithLogger(cfg.logger)}, arIAM...)
	if cfg.repo != "" {
		arOpts = append(arOpts, artifactregistryfake.WithRepository(&artifactregistrypb.Repository{
			Name:   "projects/" + cfg.project + "/locations/" + cfg.region + "/repositories/" + cfg.repo,
			Format: artifactregistrypb.Repository_DOCKER,
		}))
	}
	arOpts = append(append(arOpts, cfg.ar...), artifactregistryfake.WithoutListener(), artifactregistryfake.WithRegistryHost(s.Addr))
	if s.ar, err = artifactregistryfake.NewServer(arOpts...); err != nil {
		return fmt.Errorf("emulators: starting Artifact Registry: %w", err)
	}
	rmOpts := append(append([]resourcemanagerfake.Option{resourcemanagerfake.WithProject(cfg.project, cfg.number)}, rmIAM...), cfg.rm...)
	if s.rm, err = resourcemanagerfake.NewServer(append(rmOpts, resourcemanagerfake.WithoutListener())...); err != nil {
		return fmt.Errorf("emulators: starting Resource Manager: %w", err)
	}
	iamOpts := append([]iamfake.Option{iamfake.WithClock(cfg.clock), iamfake.WithLogger(cfg.logger)}, cfg.iam...)
	if s.iam, err = iamfake.NewServer(append(iamOpts, iamfake.WithoutListener())...); err != nil {
		return fmt.Errorf("emulators: starting IAM: %w", err)
	}
	stsOpts := append([]stsfake.Option{stsfake.WithClock(cfg.clock), stsfake.WithLogger(cfg.logger), stsfake.WithIAM(s.iam)}, cfg.sts...)
	if s.sts, err = stsfake.NewServer(append(stsOpts, stsfake.WithoutListener())...); err != nil {
		return fmt.Errorf("emulators: starting STS: %w", err)
	}

	var mux emulator.Mux
	s.crun.Register(&mux)
	s.ar.Register(&mux)
	s.rm.Register(&mux)
	s.mon.Register(&mux)
	s.services = mux.Services()
	s.grpc = grpc.NewServer(grpc.UnknownServiceHandler(s.unknown))
	if err := mux.Install(s.grpc); err != nil {
		return fmt.Errorf("emulators: mounting the gRPC services: %w", err)
	}
	if s.rest, err = emulator.REST(s.grpc, http.HandlerFunc(s.notFound)); err != nil {
		return fmt.Errorf("emulators: serving REST: %w", err)
	}
	s.client = &http.Client{Transport: &http.Transport{}}
	s.table = s.routes()
	return nil
}

// resolve returns the principal of an access token the STS and IAM
// Credentials emulator minted.
func (s *Set) resolve(token string) (emulation.Principal, bool) { return s.sts.Resolve(token) }

// policy returns the policy of a project (Resource Manager's, which the
// resources in it inherit) or of a service account (IAM's,
// "projects/-/serviceAccounts/EMAIL"), or nil.
func (s *Set) policy(resource string) *iampb.Policy {
	if email, ok := strings.CutPrefix(resource, "projects/-/serviceAccounts/"); ok {
		p := s.iam.ServiceAccountPolicy(email)
		if p == nil {
			return nil
		}
		out := &iampb.Policy{}
		for _, b := range p.Bindings {
			out.Bindings = append(out.Bindings, &iampb.Binding{Role: b.Role, Members: b.Members})
		}
		return out
	}
	if strings.Count(resource, "/") == 1 && strings.HasPrefix(resource, "projects/") {
		return s.rm.Policy(resource)
	}
	return nil
}

// unknown answers gRPC services no emulator serves.
func (s *Set) unknown(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	return status.Errorf(codes.Unimplemented, "emulators: %s is not emulated; the gRPC services served are %s", method, strings.Join(s.services, ", "))
}

// enter admits a request unless the set is closing.
func (s *Set) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.inflight.Add(1)
	return true
}

// Close stops serving, ends open calls and connections, waits until every
// request has ended and closes every emulator. It is safe to call more
// than once; later calls return the first result.
func (s *Set) Close() error {
	s.once.Do(func() {
		if s.stop != nil {
			s.stop()
		}
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		s.grpc.Stop()
		err := s.hs.Close()
		<-s.served
		s.inflight.Wait()
		s.client.CloseIdleConnections()
		s.closeEmulators()
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.closeErr = fmt.Errorf("emulators: closing: %w", err)
		}
	})
	return s.closeErr
}

// closeEmulators closes the emulators that were started.
func (s *Set) closeEmulators() {
	if s.mon != nil {
		_ = s.mon.Close()
	}
	if s.sts != nil {
		_ = s.sts.Close() // no listener of its own: nothing to report
	}
	if s.iam != nil {
		_ = s.iam.Close() // no listener of its own: nothing to report
	}
	if s.rm != nil {
		_ = s.rm.Close() // no listener of its own: nothing to report
	}
	if s.ar != nil {
		_ = s.ar.Close() // no listener of its own: nothing to report
	}
	if s.crun != nil {
		_ = s.crun.Close()
	}
}

// CloudRun returns the Cloud Run emulator, for seeding and inspection
// (SetService, Requests, InjectError, CompleteOperations, ...).
func (s *Set) CloudRun() *cloudrunfake.Server { return s.crun }

// ArtifactRegistry returns the Artifact Registry emulator
// (SetRepository, InjectError, Count, ...).
func (s *Set) ArtifactRegistry() *artifactregistryfake.Server { return s.ar }

// ResourceManager returns the Resource Manager emulator (Policy,
// ModifyPolicy, InjectError, Count, ...).
func (s *Set) ResourceManager() *resourcemanagerfake.Server { return s.rm }

// IAM returns the IAM emulator (Pool, Provider, InjectError, Count, ...).
func (s *Set) IAM() *iamfake.Server { return s.iam }

// STS returns the STS/OIDC emulator (AddProvider, SetActionsClaims,
// IssueToken, Identity, ...). It has no listener of its own: use the
// Set's URLs (TokenURL, ActionsRequestURL, ...).
func (s *Set) STS() *stsfake.Server { return s.sts }

// Monitoring returns the Cloud Monitoring emulator (Add samples, Requests,
// Count, ...). It has no listener of its own: use the Set's ClientOptions.
func (s *Set) Monitoring() *monitoringfake.Server { return s.mon }

// ClientOptions returns the options that connect a gapic gRPC client
// (run, artifactregistry, resourcemanager, monitoring) to the set: the shared address
// as endpoint, no authentication and a plain-text connection.
func (s *Set) ClientOptions() []option.ClientOption { return emulator.ClientOptions(s.Addr) }

// RESTClientOptions returns the options that connect the REST clients of
// the same APIs (run.NewServicesRESTClient, …) to the shared address:
// endpoint "http://ADDR", no authentication.
func (s *Set) RESTClientOptions() []option.ClientOption { return emulator.RESTClientOptions(s.Addr) }

// IAMClientOptions returns the options that connect an iam/v1 REST client
// (iam.NewService) to the set: endpoint "http://ADDR/", no authentication
// and [Set.HTTPClient].
func (s *Set) IAMClientOptions() []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint(s.IAMURL()), option.WithoutAuthentication(), option.WithHTTPClient(s.client)}
}

// HTTPClient returns a plain HTTP client for the set's REST and OCI
// endpoints. Close closes its idle connections.
func (s *Set) HTTPClient() *http.Client { return s.client }

// RegistryHost returns the OCI registry "host:port" (the shared address):
// images are RegistryHost()/PROJECT/REPOSITORY/IMAGE:TAG, pushed over
// plain HTTP (go-containerregistry: name.Insecure).
func (s *Set) RegistryHost() string { return s.Addr }

// ImageRepository returns the image prefix of the seeded repository,
// "ADDR/PROJECT/REPOSITORY", or "" when none was seeded.
func (s *Set) ImageRepository() string {
	if s.cfg.repo == "" {
		return ""
	}
	return s.Addr + "/" + s.cfg.project + "/" + s.cfg.repo
}

// IAMURL returns the IAM v1 REST base URL, "http://ADDR/".
func (s *Set) IAMURL() string { return "http://" + s.Addr + "/" }

// TokenURL returns the STS token exchange URL, "http://ADDR/v1/token"
// (externalaccount.Config.TokenURL).
func (s *Set) TokenURL() string { return "http://" + s.Addr + "/v1/token" }

// IAMCredentialsURL returns the IAM Credentials base URL, "http://ADDR".
func (s *Set) IAMCredentialsURL() string { return "http://" + s.Addr }

// OIDCDiscoveryURL returns the OIDC issuer's discovery document URL.
func (s *Set) OIDCDiscoveryURL() string {
	return "http://" + s.Addr + "/.well-known/openid-configuration"
}

// ActionsRequestURL returns the GitHub Actions ID token request URL
// (ACTIONS_ID_TOKEN_REQUEST_URL); its bearer token is STS().RequestToken().
func (s *Set) ActionsRequestURL() string {
	return "http://" + s.Addr + "/actions/token?api-version=2.0"
}

// Endpoints returns the addresses of every API, all on the shared address.
func (s *Set) Endpoints() Endpoints {
	return Endpoints{
		Run: s.Addr, ArtifactRegistry: s.Addr, Registry: s.Addr, ResourceManager: s.Addr, Monitoring: s.Addr, REST: "http://" + s.Addr,
		IAM: s.IAMURL(), STSTokenURL: s.TokenURL(), IAMCredentials: s.IAMCredentialsURL(),
		OIDCDiscovery: s.OIDCDiscoveryURL(), ActionsTokenURL: s.ActionsRequestURL(), Admin: "http://" + s.Addr + AdminPath,
	}
}

// Summary returns one line that says what the set serves and where.
func (s *Set) Summary() string {
	repo := "no repository seeded"
	if s.cfg.repo != "" {
		repo = fmt.Sprintf("DOCKER repository %s in %s", s.ImageRepository(), s.cfg.region)
	}
	return fmt.Sprintf("serving Cloud Run v2 (and its data plane: Host *.run.app), Artifact Registry v1 + OCI registry (%s), Resource Manager v3, Cloud Monitoring v3, IAM v1, STS + OIDC issuer + IAM Credentials on %s", repo, s.Addr)
}

func (s *Set) serveEndpoints(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "emulators: "+DiscoveryPath+" answers GET only")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(s.Endpoints())
}
