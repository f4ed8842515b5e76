package artifactregistryfake

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake/emulation"
	"github.com/twostage/twostage/internal/emulator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Option configures a [Server].
type Option func(*config)

type config struct {
	emulator.Options
	repos []*artifactregistrypb.Repository
	// registryHost is the OCI host served elsewhere (WithRegistryHost).
	registryHost string
	maxBlob      int64 // WithMaxBlobBytes
}

// WithMaxBlobBytes sets the largest blob upload request (POST, PATCH or
// PUT under /v2/NAME/blobs/uploads/) the OCI registry reads; a larger one
// answers 413, so a hostile client cannot fill the memory of the in-memory
// registry. The default is 256 MiB (the emulator's own limit; Artifact
// Registry's is far larger and unverified).
func WithMaxBlobBytes(n int64) Option {
	return func(c *config) { c.maxBlob = n }
}

// WithRepository seeds a repository. Its Name must be
// "projects/P/locations/L/repositories/R"; Format, DockerConfig and
// CleanupPolicies are kept as given, CreateTime and UpdateTime default to
// the clock's time and RegistryUri is set to RegistryHost()/P/R. The
// default is no repository: pushes are refused until one exists.
func WithRepository(r *artifactregistrypb.Repository) Option {
	return func(c *config) { c.repos = append(c.repos, proto.Clone(r).(*artifactregistrypb.Repository)) }
}

// WithAddress sets the gRPC listen address. The default is "127.0.0.1:0"
// (loopback, a free port).
func WithAddress(addr string) Option {
	return func(c *config) { c.Addr = addr }
}

// WithClock sets the clock that stamps create and update times and on
// which injected latency waits. The default is [twostage.SystemClock].
func WithClock(clock twostage.Clock) Option {
	return func(c *config) { c.Clock = clock }
}

// WithLogger logs every RPC and manifest write at debug level. The default
// discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.Logger = l }
}

// WithErrorInjection calls f before every RPC with the full gRPC method
// name (for example
// "/google.devtools.artifactregistry.v1.ArtifactRegistry/GetTag") and the
// request message; a non-nil result is returned to the client instead of
// running the RPC (use status.Error to choose the code). The default
// injects nothing.
func WithErrorInjection(f func(method string, req any) error) Option {
	return func(c *config) { c.Inject = f }
}

// WithLatency delays every call of the full gRPC method name by d before it
// runs, waiting on the clock of WithClock; a caller whose context ends
// first gets its context's error. The default adds no latency.
func WithLatency(method string, d time.Duration) Option {
	return func(c *config) { c.SetLatency(method, d) }
}

// WithMaxRequests keeps only the newest n entries of the request log (see
// [Server.Requests]); n ≤ 0 keeps every entry, the default.
func WithMaxRequests(n int) Option {
	return func(c *config) { c.MaxRequests = n }
}

// WithRegistryHost sets the "host:port" that serves [Server.OCIHandler],
// for an emulator mounted on a shared server: RegistryHost and every
// repository's RegistryUri report it, and NewServer starts no OCI server
// of its own. The default starts one on loopback and reports its address.
func WithRegistryHost(host string) Option {
	return func(c *config) { c.registryHost = host }
}

// WithoutListener makes NewServer start no gRPC server of its own: Addr is
// empty, ClientOptions returns nil, and the API is served only where
// [Server.Register] mounts it. It requires [WithRegistryHost]. The default
// listens on WithAddress.
func WithoutListener() Option {
	return func(c *config) { c.NoListener = true }
}

// Server is the emulator: a gRPC server for the API and an OCI registry on
// loopback sharing one state. It is safe for concurrent use.
type Server struct {
	// Addr is the gRPC "host:port"; empty with WithoutListener.
	Addr string

	lis  *emulator.Server // nil with WithoutListener
	hsrv *httptest.Server // nil with WithRegistryHost
	s    *server
}

// NewServer starts an emulator. Close it when done.
func NewServer(opts ...Option) (*Server, error) {
	cfg := config{maxBlob: 256 << 20}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	cfg.Defaults()
	if cfg.NoListener && cfg.registryHost == "" {
		return nil, errors.New("artifactregistryfake: WithoutListener needs WithRegistryHost: the host that serves OCIHandler")
	}
	s := &server{
		cfg:   cfg,
		repos: map[string]*repoState{},
		ops:   map[string]*longrunningpb.Operation{},
		kit:   emulator.NewKit("artifactregistryfake", cfg.Options),
		// Lower case: operation IDs in names are lower case.
		opSalt: strings.ToLower(rand.Text()[:10]),
	}
	s.oci = ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := &Server{s: s}
	s.host = cfg.registryHost
	if s.host == "" {
		srv.hsrv = httptest.NewServer(http.HandlerFunc(s.serveOCI))
		s.host = strings.TrimPrefix(srv.hsrv.URL, "http://")
	}
	fail := func(err error) (*Server, error) {
		_ = srv.Close() // nothing served yet
		return nil, err
	}
	now := cfg.Clock.Now()
	for _, r := range cfg.repos {
		if _, _, _, err := parseRepo(r.GetName()); err != nil {
			return fail(fmt.Errorf("artifactregistryfake: seeding repository: %w", err))
		}
		if _, dup := s.repos[r.GetName()]; dup {
			return fail(fmt.Errorf("artifactregistryfake: repository %s seeded twice", r.GetName()))
		}
		s.addRepo(r, now)
	}
	if cfg.NoListener {
		return srv, nil
	}
	lis, err := emulator.Listen(cfg.Addr, srv.Register, grpc.UnknownServiceHandler(s.unknown))
	if err != nil {
		return fail(fmt.Errorf("artifactregistryfake: %w", err))
	}
	srv.Addr, srv.lis = lis.Addr, lis
	return srv, nil
}

// Register mounts the emulator's gRPC services
// (google.devtools.artifactregistry.v1.ArtifactRegistry and
// google.longrunning.Operations) on r, such as a shared *grpc.Server, with
// its call counts and error injection. Call it before r serves.
func (s *Server) Register(r grpc.ServiceRegistrar) {
	r = s.s.kit.Registrar(r, append([]grpc.UnaryServerInterceptor{s.s.emulatedOnly}, s.s.authz().Interceptors()...)...)
	artifactregistrypb.RegisterArtifactRegistryServer(r, s.s)
	longrunningpb.RegisterOperationsServer(r, s.s)
}

// OCIHandler returns the OCI distribution API (paths under "/v2/") of the
// emulator, to serve on the host given to [WithRegistryHost].
func (s *Server) OCIHandler() http.Handler { return http.HandlerFunc(s.s.serveOCI) }

// ClientOptions returns the options that connect
// artifactregistry.NewClient to the server: its endpoint, no
// authentication and a plain-text connection. It returns nil with
// WithoutListener.
func (s *Server) ClientOptions() []option.ClientOption {
	return s.lis.ClientOptions()
}

// RegistryHost returns the "host:port" of the OCI registry (plain HTTP on
// loopback), the emulated "LOCATION-docker.pkg.dev". Images are pushed to
// RegistryHost()/PROJECT/REPOSITORY/IMAGE:TAG.
func (s *Server) RegistryHost() string { return s.s.host }

// Close stops both servers, ending open calls.
func (s *Server) Close() error {
	err := s.lis.Close()
	if s.hsrv != nil {
		s.hsrv.Close()
	}
	return err
}

// SetRepository replaces (or adds) a repository's configuration, keeping
// its packages; use it to change docker_config or cleanup policies
// mid-test.
func (s *Server) SetRepository(r *artifactregistrypb.Repository) error {
	if _, _, _, err := parseRepo(r.GetName()); err != nil {
		return fmt.Errorf("artifactregistryfake: setting repository: %w", err)
	}
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	now := s.s.cfg.Clock.Now()
	if old, ok := s.s.repos[r.GetName()]; ok {
		created := old.pb.GetCreateTime()
		old.pb = s.s.completeRepo(proto.Clone(r).(*artifactregistrypb.Repository), now)
		old.pb.CreateTime = created
		return nil
	}
	s.s.addRepo(proto.Clone(r).(*artifactregistrypb.Repository), now)
	return nil
}

// InjectError makes the next times calls of the full gRPC method name (for
// example "/google.devtools.artifactregistry.v1.ArtifactRegistry/GetTag")
// fail with err without running; use status.Error to choose the code.
// times < 0 fails every call; a nil err or times == 0 removes the
// injection.
func (s *Server) InjectError(method string, err error, times int) {
	s.s.kit.Faults.Inject(method, err, times)
}

// Requests returns a copy of the request log (gRPC calls) in arrival order
// (see WithMaxRequests).
func (s *Server) Requests() []emulation.Request { return s.s.kit.Log.Requests() }

// Count returns how many calls of a method the server received since it
// started or since ResetRequests; a name without a leading "/" matches the
// method of any service ("GetTag").
func (s *Server) Count(method string) int {
	return s.s.kit.Log.Count(method)
}

// ResetRequests empties the request log and its counts.
func (s *Server) ResetRequests() { s.s.kit.Log.Reset() }

// server is the shared state of the gRPC API and the OCI front.
type server struct {
	artifactregistrypb.UnimplementedArtifactRegistryServer
	longrunningpb.UnimplementedOperationsServer

	cfg  config
	oci  http.Handler // the in-memory OCI registry
	host string       // host:port of the OCI front

	// kit is the request log and the fault injection.
	kit *emulator.Kit

	// pushMu serialises manifest writes (checks, forwarding to oci and the
	// state update), so that the OCI registry and the API agree.
	pushMu sync.Mutex

	mu sync.Mutex // guards every field below
	// repos by full repository name.
	repos map[string]*repoState
	// ops by operation name.
	ops   map[string]*longrunningpb.Operation
	opSeq int
	// opSalt makes operation names differ between processes (set once).
	opSalt string
}

type repoState struct {
	pb        *artifactregistrypb.Repository
	packages  map[string]*pkgState // by unescaped package id
	policy    *iampb.Policy        // nil until set; never mutated in place
	policySeq int                  // policy writes so far, for etags
}

type pkgState struct {
	created, updated time.Time
	versions         map[string]*versionState // by digest
	tags             map[string]string        // tag → digest
}

type versionState struct {
	digest    string
	mediaType string
	size      int64
	manifest  []byte
	created   time.Time
	updated   time.Time
}

func (s *server) addRepo(r *artifactregistrypb.Repository, now time.Time) {
	s.repos[r.GetName()] = &repoState{pb: s.completeRepo(r, now), packages: map[string]*pkgState{}}
}

// completeRepo fills output-only fields.
func (s *server) completeRepo(r *artifactregistrypb.Repository, now time.Time) *artifactregistrypb.Repository {
	project, _, id, _ := parseRepo(r.GetName())
	if r.CreateTime == nil {
		r.CreateTime = ts(now)
	}
	r.UpdateTime = ts(now)
	r.RegistryUri = s.host + "/" + project + "/" + id
	return r
}

// ociRepo returns the OCI repository path "P/R/PKG" of a package.
func ociRepo(repoName, pkg string) string {
	project, _, id, _ := parseRepo(repoName)
	return project + "/" + id + "/" + pkg
}

// findRepo returns the repository with the given project and id, in any
// location. s.mu must be held.
func (s *server) findRepo(project, id string) (string, *repoState) {
	for name, r := range s.repos {
		p, _, i, _ := parseRepo(name)
		if p == project && i == id {
			return name, r
		}
	}
	return "", nil
}

// unknown answers services the emulator does not register.
func (s *server) unknown(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	return status.Errorf(codes.Unimplemented, "artifactregistryfake: %s is not emulated; only google.devtools.artifactregistry.v1.ArtifactRegistry (partly) and google.longrunning.Operations/GetOperation are", method)
}

// emulated lists the ArtifactRegistry methods the emulator implements.
var emulated = map[string]bool{
	"GetRepository": true, "ListRepositories": true, "CreateRepository": true,
	"GetPackage": true, "ListPackages": true,
	"GetTag": true, "ListTags": true, "CreateTag": true, "UpdateTag": true, "DeleteTag": true,
	"GetVersion": true, "ListVersions": true,
	"GetDockerImage": true, "ListDockerImages": true,
	"GetIamPolicy": true, "SetIamPolicy": true, "TestIamPermissions": true,
	"GetOperation": true,
}

// emulatedList names the emulated methods, sorted.
var emulatedList = strings.Join(slices.DeleteFunc(slices.Sorted(maps.Keys(emulated)), func(m string) bool { return m == "GetOperation" }), ", ")

// emulatedOnly answers codes.Unimplemented for the methods the emulator
// does not implement.
func (s *server) emulatedOnly(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	method := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
	if !emulated[method] {
		return nil, status.Errorf(codes.Unimplemented, "artifactregistryfake: %s is not emulated; emulated methods: %s, Operations.GetOperation", info.FullMethod, emulatedList)
	}
	return h(ctx, req)
}
