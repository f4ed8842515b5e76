package cloudrunfake

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/twostage/twostage/fake/emulation"
	"github.com/twostage/twostage/internal/emulator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Server is a Cloud Run Admin API v2 emulator serving google.cloud.run.v2.Services,
// google.cloud.run.v2.Revisions and google.longrunning.Operations on one gRPC
// server on loopback. It is safe for concurrent use.
type Server struct {
	// Addr is the "host:port" the server listens on; empty with
	// WithoutListener.
	Addr string

	lis *listener // nil with WithoutListener; serves gRPC and the data plane
	s   *server
}

// server holds the emulator state. It embeds the Unimplemented servers so a
// method added to the API later answers codes.Unimplemented.
type server struct {
	runpb.UnimplementedServicesServer
	runpb.UnimplementedRevisionsServer
	longrunningpb.UnimplementedOperationsServer

	cfg config

	// kit is the request log and the fault injection.
	kit *emulator.Kit

	mu sync.Mutex // guards every field below
	// services by full resource name.
	services map[string]*serviceState
	// ops by operation name; opOrder keeps creation order for listing.
	ops     map[string]*operation
	opOrder []string
	// seq numbers etags, uids, operation names and creation order; it only grows.
	seq uint64
	// writes holds, per region "projects/P/locations/L", the times of the
	// writes inside the current quota window.
	writes map[string][]int64
	// pendingOps counts the pending operations of each service by name.
	pendingOps map[string]int
	// opSalt makes operation IDs differ between processes (set once).
	opSalt string
	// failNames holds short revision names that fail when they are created
	// (FailRevision before creation), with their message.
	failNames map[string]string

	// dp serves the services' URLs (dataplane.go); it has its own locks.
	dp *dataPlane
}

// NewServer starts an emulator on loopback (see WithAddress) and returns it.
// Close it when done.
func NewServer(opts ...Option) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	cfg.Defaults()
	if cfg.quotaN < 0 || (cfg.quotaN > 0 && cfg.quotaPer <= 0) {
		return nil, fmt.Errorf("cloudrunfake: write quota %d per %v: want n ≥ 0 and a positive window", cfg.quotaN, cfg.quotaPer)
	}
	if cfg.maxOps < 1 {
		return nil, fmt.Errorf("cloudrunfake: WithMaxOperations(%d): want at least 1", cfg.maxOps)
	}
	if cfg.conflictCode == codes.OK {
		return nil, errors.New("cloudrunfake: WithConflictCode(codes.OK): a conflict must be an error code, such as codes.FailedPrecondition or codes.Aborted")
	}
	s := &server{
		cfg:        cfg,
		kit:        emulator.NewKit("cloudrunfake", cfg.Options),
		opSalt:     rand.Text(),
		services:   map[string]*serviceState{},
		ops:        map[string]*operation{},
		writes:     map[string][]int64{},
		failNames:  map[string]string{},
		pendingOps: map[string]int{},
	}
	s.dp = newDataPlane(s, cfg.dp)
	srv := &Server{s: s}
	if cfg.NoListener {
		return srv, nil
	}
	lis, err := listen(cfg.Addr, srv.Register, s.dp, grpc.UnknownServiceHandler(s.unknown))
	if err != nil {
		return nil, fmt.Errorf("cloudrunfake: %w", err)
	}
	srv.Addr, srv.lis = lis.addr, lis
	return srv, nil
}

// Register mounts the emulator's services (google.cloud.run.v2.Services,
// google.cloud.run.v2.Revisions and google.longrunning.Operations) on r,
// such as a shared *grpc.Server, with its request log and fault injection.
// Call it before r serves. The emulator's own listener, if any, keeps
// serving the same state.
func (s *Server) Register(r grpc.ServiceRegistrar) {
	r = s.s.kit.Registrar(r, s.s.authz().Interceptors()...)
	runpb.RegisterServicesServer(r, s.s)
	runpb.RegisterRevisionsServer(r, s.s)
	longrunningpb.RegisterOperationsServer(r, s.s)
}

// ClientOptions returns the options that connect a gapic client (for example
// run.NewServicesClient) to the server: its endpoint, no authentication and
// an insecure (plain-text) connection. It returns nil with WithoutListener.
func (s *Server) ClientOptions() []option.ClientOption {
	return s.lis.ClientOptions()
}

// Close stops the server at once, ending open calls and requests, waits
// for it, and stops the revisions' processes.
func (s *Server) Close() error {
	err := s.lis.Close()
	s.s.dp.close()
	return err
}

// unknown answers methods of services the emulator does not register (Jobs,
// Executions, ...).
func (s *server) unknown(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	err := status.Errorf(codes.Unimplemented, "cloudrunfake: method %s is not emulated; only google.cloud.run.v2.Services, google.cloud.run.v2.Revisions and google.longrunning.Operations are", method)
	s.kit.Log.Record(stream.Context(), method, nil, err)
	return err
}

// InjectError makes the next times calls of the full gRPC method name fail
// with err (use status.Error to choose the code) without running. times < 0
// fails every call; a nil err or times == 0 removes the injection.
func (s *Server) InjectError(method string, err error, times int) {
	s.s.kit.Faults.Inject(method, err, times)
}

// Requests returns a copy of the request log in arrival order. The log
// keeps every call until ResetRequests (see WithMaxRequests).
func (s *Server) Requests() []emulation.Request {
	return s.s.kit.Log.Requests()
}

// Count returns how many calls of the full gRPC method name the server has
// received since it started or since ResetRequests. A method given without
// a leading "/" matches any service's method of that name ("UpdateService").
func (s *Server) Count(method string) int {
	return s.s.kit.Log.Count(method)
}

// ResetRequests empties the request log.
func (s *Server) ResetRequests() {
	s.s.kit.Log.Reset()
}

// SetService stores svc as if it had been created and reconciled: name must
// be a full service name; a revision is made from its template when none of
// that name exists, and every output-only field is computed. It replaces a
// service of the same name. It does not count against the write quota.
func (s *Server) SetService(svc *runpb.Service) error {
	if svc == nil {
		return errors.New("cloudrunfake: SetService: nil service")
	}
	in := proto.Clone(svc).(*runpb.Service)
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	return s.s.seed(in)
}

// Service returns a copy of the stored service with the full name, and
// whether it exists.
func (s *Server) Service(name string) (*runpb.Service, bool) {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	st, ok := s.s.services[name]
	if !ok {
		return nil, false
	}
	return proto.Clone(st.svc).(*runpb.Service), true
}

// Revisions returns copies of the revisions of the service with the full
// name, newest first (the order of ListRevisions).
func (s *Server) Revisions(serviceName string) []*runpb.Revision {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	st, ok := s.s.services[serviceName]
	if !ok {
		return nil
	}
	var out []*runpb.Revision
	for _, r := range st.sortedRevisions() {
		out = append(out, proto.Clone(r.rev).(*runpb.Revision))
	}
	return out
}

// FailRevision makes the revision fail with message: a revision that exists
// gets a FAILED Ready condition now (the service's status is left as it
// is); a name that does not exist yet fails when it is created, like
// WithFailingImage. name is a short revision name or a full resource name.
func (s *Server) FailRevision(name, message string) {
	short := name
	if i := strings.LastIndex(name, "/revisions/"); i >= 0 {
		short = name[i+len("/revisions/"):]
	}
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	for _, st := range s.s.services {
		if r, ok := st.revisions[short]; ok {
			r.rev = proto.Clone(r.rev).(*runpb.Revision)
			s.s.setRevisionFailed(r.rev, message)
			st.revisions[short] = r
			st.svc.Etag = s.s.nextEtag()
			return
		}
	}
	s.s.failNames[short] = message
}

// CompleteOperations completes every pending operation in creation order
// (WithManualOperations) and returns how many it completed.
func (s *Server) CompleteOperations() int {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	n := 0
	for _, name := range s.s.opOrder {
		if op := s.s.ops[name]; op != nil && !op.op.GetDone() {
			s.s.complete(op, nil)
			n++
		}
	}
	return n
}

// CompleteOperation completes the pending operation with the full name. It
// reports false when no such operation is pending.
func (s *Server) CompleteOperation(name string) bool {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	op := s.s.ops[name]
	if op == nil || op.op.GetDone() {
		return false
	}
	s.s.complete(op, nil)
	return true
}

// Compile-time checks that server implements the registered APIs.
var (
	_ runpb.ServicesServer           = (*server)(nil)
	_ runpb.RevisionsServer          = (*server)(nil)
	_ longrunningpb.OperationsServer = (*server)(nil)
)
