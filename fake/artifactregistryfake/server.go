package artifactregistryfake

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/twostage/twostage"
)

// Option configures a [Server].
type Option func(*config)

type config struct {
	repos  []*artifactregistrypb.Repository
	clock  twostage.Clock
	logger *slog.Logger
	addr   string
}

// WithRepository seeds a repository. Its Name must be
// "projects/P/locations/L/repositories/R"; Format, DockerConfig and
// CleanupPolicies are kept as given, CreateTime and UpdateTime default to
// the clock's time and RegistryUri is set to RegistryHost()/P/R. The
// default is no repository: pushes are refused until one exists.
func WithRepository(r *artifactregistrypb.Repository) Option {
	return func(c *config) { c.repos = append(c.repos, proto.Clone(r).(*artifactregistrypb.Repository)) }
}

// WithClock sets the clock that stamps create and update times. The
// default is [twostage.SystemClock].
func WithClock(clock twostage.Clock) Option {
	return func(c *config) { c.clock = clock }
}

// WithLogger logs every RPC and manifest write at debug level. The default
// discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithAddress sets the gRPC listen address. The default is "127.0.0.1:0".
func WithAddress(addr string) Option {
	return func(c *config) { c.addr = addr }
}

// Server is the emulator: a gRPC server for the API and an OCI registry on
// loopback sharing one state. It is safe for concurrent use.
type Server struct {
	// Addr is the gRPC "host:port".
	Addr string

	gsrv *grpc.Server
	hsrv *httptest.Server
	s    *server
	done chan struct{}
}

// NewServer starts an emulator. Close it when done.
func NewServer(opts ...Option) (*Server, error) {
	cfg := config{addr: "127.0.0.1:0"}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.clock == nil {
		cfg.clock = twostage.SystemClock()
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	s := &server{
		cfg:      cfg,
		repos:    map[string]*repoState{},
		ops:      map[string]*longrunningpb.Operation{},
		calls:    map[string]int{},
		injected: map[string]*injection{},
	}
	s.oci = ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	hsrv := httptest.NewServer(http.HandlerFunc(s.serveOCI))
	s.host = strings.TrimPrefix(hsrv.URL, "http://")
	now := cfg.clock.Now()
	for _, r := range cfg.repos {
		if _, _, _, err := parseRepo(r.GetName()); err != nil {
			hsrv.Close()
			return nil, fmt.Errorf("artifactregistryfake: seeding repository: %w", err)
		}
		if _, dup := s.repos[r.GetName()]; dup {
			hsrv.Close()
			return nil, fmt.Errorf("artifactregistryfake: repository %s seeded twice", r.GetName())
		}
		s.addRepo(r, now)
	}
	lis, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		hsrv.Close()
		return nil, fmt.Errorf("artifactregistryfake: listening on %q: %w", cfg.addr, err)
	}
	gsrv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(s.interceptor),
		grpc.UnknownServiceHandler(s.unknown),
	)
	artifactregistrypb.RegisterArtifactRegistryServer(gsrv, s)
	longrunningpb.RegisterOperationsServer(gsrv, s)
	srv := &Server{Addr: lis.Addr().String(), gsrv: gsrv, hsrv: hsrv, s: s, done: make(chan struct{})}
	go func() {
		defer close(srv.done)
		_ = gsrv.Serve(lis) // returns when Close stops the server
	}()
	return srv, nil
}

// ClientOptions returns the options that connect
// artifactregistry.NewClient to the server: its endpoint, no
// authentication and a plain-text connection.
func (s *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(s.Addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// RegistryHost returns the "host:port" of the OCI registry (plain HTTP on
// loopback), the emulated "LOCATION-docker.pkg.dev". Images are pushed to
// RegistryHost()/PROJECT/REPOSITORY/IMAGE:TAG.
func (s *Server) RegistryHost() string { return s.s.host }

// Close stops both servers, ending open calls.
func (s *Server) Close() error {
	s.gsrv.Stop()
	<-s.done
	s.hsrv.Close()
	return nil
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
	now := s.s.cfg.clock.Now()
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
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	if err == nil || times == 0 {
		delete(s.s.injected, method)
		return
	}
	s.s.injected[method] = &injection{err: err, times: times}
}

// Count returns how many calls of a method the server received; a name
// without a leading "/" matches the method of any service ("GetTag").
func (s *Server) Count(method string) int {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	n := 0
	for m, c := range s.s.calls {
		if m == method || (!strings.HasPrefix(method, "/") && strings.HasSuffix(m, "/"+method)) {
			n += c
		}
	}
	return n
}

// server is the shared state of the gRPC API and the OCI front.
type server struct {
	artifactregistrypb.UnimplementedArtifactRegistryServer
	longrunningpb.UnimplementedOperationsServer

	cfg  config
	oci  http.Handler // the in-memory OCI registry
	host string       // host:port of the OCI front

	// pushMu serialises manifest writes (checks, forwarding to oci and the
	// state update), so that the OCI registry and the API agree.
	pushMu sync.Mutex

	mu sync.Mutex // guards every field below
	// repos by full repository name.
	repos map[string]*repoState
	// ops by operation name.
	ops   map[string]*longrunningpb.Operation
	opSeq int
	// calls counts RPCs by full method name.
	calls map[string]int
	// injected holds errors per full method name (InjectError).
	injected map[string]*injection
}

type injection struct {
	err   error
	times int // < 0: every call
}

type repoState struct {
	pb       *artifactregistrypb.Repository
	packages map[string]*pkgState // by unescaped package id
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
	"GetOperation": true,
}

func (s *server) interceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	s.mu.Lock()
	s.calls[info.FullMethod]++
	var injected error
	if in := s.injected[info.FullMethod]; in != nil {
		injected = in.err
		if in.times > 0 {
			if in.times--; in.times == 0 {
				delete(s.injected, info.FullMethod)
			}
		}
	}
	s.mu.Unlock()
	method := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
	var resp any
	var err error
	switch {
	case injected != nil:
		err = injected
	case !emulated[method]:
		err = status.Errorf(codes.Unimplemented, "artifactregistryfake: %s is not emulated; emulated methods: GetRepository, ListRepositories, CreateRepository, GetPackage, ListPackages, GetTag, ListTags, CreateTag, UpdateTag, DeleteTag, GetVersion, ListVersions, GetDockerImage, ListDockerImages, Operations.GetOperation", info.FullMethod)
	default:
		resp, err = h(ctx, req)
	}
	s.cfg.logger.LogAttrs(ctx, slog.LevelDebug, "artifactregistryfake rpc",
		slog.String("method", info.FullMethod), slog.String("code", status.Code(err).String()))
	return resp, err
}
