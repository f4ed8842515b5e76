package resourcemanagerfake

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/resourcemanager/apiv3/resourcemanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake/emulation"
	"github.com/twostage/twostage/internal/emulator"
)

// ConcurrentChangeMessage is the message of the ABORTED error a
// SetIamPolicy with a stale etag receives. The text is the one Google IAM
// returns (HTTP 409, status ABORTED), as quoted in
// github.com/DataBiosphere/leonardo pull request 737; the gRPC surface of
// Resource Manager answering it with ABORTED is unverified.
const ConcurrentChangeMessage = "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff."

// Option configures [NewServer].
type Option func(*server)

// WithProject seeds a project with its ID ("my-proj") and number
// ("123456789012"). Both "projects/ID" and "projects/NUMBER" then name the
// same project and the same policy. The default is no project: every
// request answers as the real API does for a project the caller cannot see
// (PERMISSION_DENIED). An empty number is derived from the ID.
func WithProject(id, number string) Option {
	return func(s *server) {
		if number == "" {
			number = fmt.Sprint(1000000 + len(s.projects))
		}
		p := &project{id: id, number: number, policy: &iampb.Policy{Version: 1}}
		p.policy.Etag = s.nextEtag()
		s.projects[id] = p
		s.projects[number] = p
	}
}

// WithPolicy seeds the policy of a project added with [WithProject] (the
// options apply in order, so put it after). Its etag is replaced by a fresh
// one. The default policy has no bindings.
func WithPolicy(resource string, p *iampb.Policy) Option {
	return func(s *server) {
		pr, err := s.lookup(resource)
		if err != nil {
			panic(fmt.Sprintf("resourcemanagerfake.WithPolicy: %v (add the project with WithProject first)", err))
		}
		pr.policy = s.stamp(proto.Clone(p).(*iampb.Policy))
	}
}

// WithAddress sets the TCP address the gRPC server listens on. The default
// is "127.0.0.1:0" (loopback, a free port).
func WithAddress(addr string) Option { return func(s *server) { s.opts.Addr = addr } }

// WithoutListener makes NewServer start no server of its own: Addr is
// empty, ClientOptions returns nil, and the emulator serves only where
// [Server.Register] mounts it. The default listens on WithAddress.
func WithoutListener() Option {
	return func(s *server) { s.opts.NoListener = true }
}

// WithClock sets the clock on which injected latency waits. The default is
// [twostage.SystemClock].
func WithClock(clock twostage.Clock) Option { return func(s *server) { s.opts.Clock = clock } }

// WithLogger sets the logger that records every RPC at debug level. The
// default discards everything.
func WithLogger(l *slog.Logger) Option { return func(s *server) { s.opts.Logger = l } }

// WithErrorInjection calls f before every RPC, with the full gRPC method
// name ("/google.cloud.resourcemanager.v3.Projects/SetIamPolicy") and the
// request message, holding no lock; a non-nil result is returned to the
// client instead of running the RPC (use status.Error to choose the code).
// f may also call [Server.ModifyPolicy] and return nil, to make a
// concurrent edit land between a client's GetIamPolicy and its
// SetIamPolicy. The default injects nothing.
func WithErrorInjection(f func(method string, req any) error) Option {
	return func(s *server) { s.opts.Inject = f }
}

// WithLatency delays every call of the full gRPC method name by d before it
// runs, waiting on the clock of WithClock; a caller whose context ends
// first gets its context's error. The default adds no latency.
func WithLatency(method string, d time.Duration) Option {
	return func(s *server) { s.opts.SetLatency(method, d) }
}

// WithMaxRequests keeps only the newest n entries of the request log (see
// [Server.Requests]); n ≤ 0 keeps every entry, the default.
func WithMaxRequests(n int) Option { return func(s *server) { s.opts.MaxRequests = n } }

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	// Addr is the "host:port" the gRPC server listens on (loopback); empty
	// with WithoutListener.
	Addr string

	lis *emulator.Server // nil with WithoutListener
	s   *server
}

type project struct {
	id, number string
	policy     *iampb.Policy // guarded by server.mu
}

type server struct {
	resourcemanagerpb.UnimplementedProjectsServer

	opts emulator.Options // set by options only
	kit  *emulator.Kit    // the request log and the fault injection

	mu       sync.Mutex // guards projects (and their policies) and etagSeq
	projects map[string]*project
	etagSeq  int
}

// NewServer starts an emulator on loopback (see WithAddress). Close it when
// done.
func NewServer(opts ...Option) (*Server, error) {
	s := &server{projects: map[string]*project{}}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	s.opts.Defaults()
	s.kit = emulator.NewKit("resourcemanagerfake", s.opts)
	srv := &Server{s: s}
	if s.opts.NoListener {
		return srv, nil
	}
	lis, err := emulator.Listen(s.opts.Addr, srv.Register, grpc.UnknownServiceHandler(s.unknown))
	if err != nil {
		return nil, fmt.Errorf("resourcemanagerfake: %w", err)
	}
	srv.Addr, srv.lis = lis.Addr, lis
	return srv, nil
}

// Register mounts the emulator's google.cloud.resourcemanager.v3.Projects
// service on r, such as a shared *grpc.Server, with its request log and
// fault injection. Call it before r serves.
func (s *Server) Register(r grpc.ServiceRegistrar) {
	resourcemanagerpb.RegisterProjectsServer(s.s.kit.Registrar(r, s.s.authz().Interceptors()...), s.s)
}

// unknown answers methods of services the emulator does not register.
func (s *server) unknown(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	err := status.Errorf(codes.Unimplemented, "resourcemanagerfake: method %s is not emulated; only google.cloud.resourcemanager.v3.Projects (GetProject, GetIamPolicy, SetIamPolicy) is", method)
	s.kit.Log.Record(stream.Context(), method, nil, err)
	return err
}

// InjectError makes the next times calls of the full gRPC method name fail
// with err (use status.Error to choose the code) without running. times < 0
// fails every call; a nil err or times == 0 removes the injection.
func (s *Server) InjectError(method string, err error, times int) {
	s.s.kit.Faults.Inject(method, err, times)
}

// Requests returns a copy of the request log in arrival order (see
// WithMaxRequests).
func (s *Server) Requests() []emulation.Request { return s.s.kit.Log.Requests() }

// Count returns how many calls of the full gRPC method name the server has
// received, successful or not, since it started or since ResetRequests. A
// method given without a leading "/" matches any service's method of that
// name ("SetIamPolicy").
func (s *Server) Count(method string) int { return s.s.kit.Log.Count(method) }

// ResetRequests empties the request log and its counts.
func (s *Server) ResetRequests() { s.s.kit.Log.Reset() }

// ClientOptions returns the options that point a gapic client at the
// emulator: its endpoint, no authentication, an insecure loopback dial. It
// returns nil with WithoutListener.
func (s *Server) ClientOptions() []option.ClientOption {
	return s.lis.ClientOptions()
}

// Close stops the server at once, ending open calls, and waits for it.
func (s *Server) Close() error { return s.lis.Close() }

// Policy returns a copy of the stored policy of resource ("projects/ID" or
// "projects/NUMBER"), or nil for an unknown project.
func (s *Server) Policy(resource string) *iampb.Policy {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	p, err := s.s.lookup(resource)
	if err != nil {
		return nil
	}
	return proto.Clone(p.policy).(*iampb.Policy)
}

// ModifyPolicy edits the stored policy of resource in place, as another
// administrator would: f receives the live policy, and afterwards the etag
// changes (so a read-modify-write that read before it gets ABORTED) and the
// version is recomputed. It may be called from the function of
// [WithErrorInjection].
func (s *Server) ModifyPolicy(resource string, f func(*iampb.Policy)) error {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	p, err := s.s.lookup(resource)
	if err != nil {
		return fmt.Errorf("modifying policy of %q: %w", resource, err)
	}
	f(p.policy)
	s.s.stamp(p.policy)
	return nil
}

// lookup finds a project by "projects/ID" or "projects/NUMBER". Callers
// hold mu (or are still configuring).
func (s *server) lookup(resource string) (*project, error) {
	id, ok := strings.CutPrefix(resource, "projects/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return nil, status.Errorf(codes.InvalidArgument, "resource %q is not a project name; want \"projects/{ProjectIdOrNumber}\"", resource)
	}
	p, ok := s.projects[id]
	if !ok {
		// Resource Manager: "Permission is denied if the policy or the
		// resource do not exist." (resourcemanagerpb.ProjectsServer.GetIamPolicy)
		return nil, status.Errorf(codes.PermissionDenied, "The caller does not have permission (project %q does not exist in the emulator; seed it with resourcemanagerfake.WithProject)", id)
	}
	return p, nil
}

// stamp gives p a fresh etag and the version its bindings require.
func (s *server) stamp(p *iampb.Policy) *iampb.Policy {
	p.Etag = s.nextEtag()
	p.Version = minVersion(p)
	return p
}

func (s *server) nextEtag() []byte {
	s.etagSeq++
	return fmt.Appendf(nil, "BwY%08d", s.etagSeq)
}

// minVersion is 3 when any binding has a condition, 1 otherwise: "if you
// specify version 3, but the policy has no conditional role bindings, the
// response uses version 1" (iam/v1 OptionsRequestedPolicyVersion doc).
func minVersion(p *iampb.Policy) int32 {
	for _, b := range p.GetBindings() {
		if b.GetCondition() != nil {
			return 3
		}
	}
	return 1
}

func (s *server) GetProject(_ context.Context, req *resourcemanagerpb.GetProjectRequest) (*resourcemanagerpb.Project, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	return &resourcemanagerpb.Project{
		Name:      "projects/" + p.number,
		ProjectId: p.id,
		State:     resourcemanagerpb.Project_ACTIVE,
	}, nil
}

func (s *server) GetIamPolicy(_ context.Context, req *iampb.GetIamPolicyRequest) (*iampb.Policy, error) {
	v := req.GetOptions().GetRequestedPolicyVersion()
	if err := checkVersion(v); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.lookup(req.GetResource())
	if err != nil {
		return nil, err
	}
	out := proto.Clone(p.policy).(*iampb.Policy)
	if out.Version == 3 && v < 3 {
		downgrade(out)
	}
	return out, nil
}

// downgrade formats a conditional policy for a client that asked for a
// version below 3: conditions are dropped and the role of each conditional
// binding is renamed, so that writing such a policy back cannot silently
// turn a conditional grant into an unconditional one. The IAM documentation
// (Policy versions) describes this renaming; the exact suffix here is
// unverified.
func downgrade(p *iampb.Policy) {
	p.Version = 1
	for i, b := range p.Bindings {
		if b.Condition != nil {
			b.Role = fmt.Sprintf("%s_withcond_%04x", b.Role, i)
			b.Condition = nil
		}
	}
}

func checkVersion(v int32) error {
	switch v {
	case 0, 1, 3:
		return nil
	}
	// "Valid values are 0, 1, and 3. Requests specifying an invalid value
	// will be rejected." (iampb.GetPolicyOptions.requested_policy_version)
	return status.Errorf(codes.InvalidArgument, "invalid requested policy version %d: valid values are 0, 1 and 3", v)
}

func (s *server) SetIamPolicy(_ context.Context, req *iampb.SetIamPolicyRequest) (*iampb.Policy, error) {
	in := req.GetPolicy()
	if in == nil {
		return nil, status.Error(codes.InvalidArgument, "policy is required")
	}
	if err := validate(in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.lookup(req.GetResource())
	if err != nil {
		return nil, err
	}
	if len(in.GetEtag()) > 0 && string(in.GetEtag()) != string(p.policy.GetEtag()) {
		return nil, status.Error(codes.Aborted, ConcurrentChangeMessage)
	}
	next := proto.Clone(p.policy).(*iampb.Policy)
	next.Bindings = cloneBindings(in.GetBindings())
	// The update mask defaults to "bindings, etag"; audit configs change only
	// when the mask names them (iampb.SetIamPolicyRequest.update_mask).
	for _, path := range req.GetUpdateMask().GetPaths() {
		if path == "audit_configs" || path == "auditConfigs" {
			next.AuditConfigs = in.GetAuditConfigs()
		}
	}
	p.policy = s.stamp(next)
	return proto.Clone(p.policy).(*iampb.Policy), nil
}

func cloneBindings(bs []*iampb.Binding) []*iampb.Binding {
	out := make([]*iampb.Binding, len(bs))
	for i, b := range bs {
		out[i] = proto.Clone(b).(*iampb.Binding)
	}
	return out
}

// memberPrefixes returns the principal types a binding may name
// (iampb.Binding.members).
func memberPrefixes() []string {
	return []string{
		"user:", "serviceAccount:", "group:", "domain:", "principal://", "principalSet://",
		"deleted:user:", "deleted:serviceAccount:", "deleted:group:", "deleted:principal://",
	}
}

func validate(p *iampb.Policy) error {
	if err := checkVersion(p.GetVersion()); err != nil {
		return err
	}
	conditional := false
	for i, b := range p.GetBindings() {
		if !strings.HasPrefix(b.GetRole(), "roles/") && !strings.HasPrefix(b.GetRole(), "projects/") && !strings.HasPrefix(b.GetRole(), "organizations/") {
			return status.Errorf(codes.InvalidArgument, "binding %d: role %q is not a role name (roles/…, projects/…/roles/…, organizations/…/roles/…)", i, b.GetRole())
		}
		// "Each of the bindings must contain at least one principal."
		// (iampb.Policy.bindings)
		if len(b.GetMembers()) == 0 {
			return status.Errorf(codes.InvalidArgument, "binding %d (%s) has no members: each binding must contain at least one principal", i, b.GetRole())
		}
		for _, m := range b.GetMembers() {
			// "Project does not support allUsers and allAuthenticatedUsers as
			// members in a Binding of a Policy." (ProjectsServer.SetIamPolicy)
			if m == "allUsers" || m == "allAuthenticatedUsers" {
				return status.Errorf(codes.InvalidArgument, "binding %d (%s): a project policy does not support %s", i, b.GetRole(), m)
			}
			if !hasAnyPrefix(m, memberPrefixes()) {
				return status.Errorf(codes.InvalidArgument, "binding %d (%s): member %q has no principal type (user:, serviceAccount:, group:, domain:, principal://, principalSet://)", i, b.GetRole(), m)
			}
		}
		if b.GetCondition() != nil {
			conditional = true
			if b.GetCondition().GetExpression() == "" {
				return status.Errorf(codes.InvalidArgument, "binding %d (%s): condition has no expression", i, b.GetRole())
			}
		}
	}
	// "Any operation that affects conditional role bindings must specify
	// version 3." (iampb.Policy.version)
	if conditional && p.GetVersion() != 3 {
		return status.Errorf(codes.InvalidArgument, "policy version %d cannot contain conditional role bindings: set version 3", p.GetVersion())
	}
	return nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
