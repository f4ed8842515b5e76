package iamfake

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake/emulation"
	"github.com/twostage/twostage/internal/emulator"
	iam "google.golang.org/api/iam/v1"
	"google.golang.org/api/option"
)

// GitHubIssuer is the OIDC issuer of GitHub Actions tokens.
const GitHubIssuer = "https://token.actions.githubusercontent.com"

// ConcurrentChangeMessage is the message of the 409 ABORTED error that
// setIamPolicy with a stale etag receives; the text is Google IAM's, as
// quoted in github.com/DataBiosphere/leonardo pull request 737.
const ConcurrentChangeMessage = "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff."

// Option configures [NewServer].
type Option func(*server)

// WithProject declares that project ID id has number number. Pool and
// provider names are then reported with the number, as the real API does
// ("projects/123456789012/locations/global/workloadIdentityPools/p"), and
// requests may name the project either way. The default is no mapping:
// names keep the project as the request spelled it.
func WithProject(id, number string) Option {
	return func(s *server) { s.numbers[id] = number }
}

// WithServiceAccount creates service account email in project, with an
// empty IAM policy. The default is no service account: getIamPolicy and
// setIamPolicy on one answer 404.
func WithServiceAccount(project, email string) Option {
	return func(s *server) {
		s.accounts[email] = &saPolicy{project: project, policy: &iam.Policy{Version: 1, Etag: s.nextEtag()}}
	}
}

// WithPendingOperations makes every create and patch return an Operation
// that is not done; its change is applied, and the operation reported done,
// on the polls-th operations.get of it, or at [Server.CompleteOperations].
// Until then the created resource does not exist (404) and a patched one
// keeps its old fields. The default (polls 0) returns operations already
// done.
func WithPendingOperations(polls int) Option {
	return func(s *server) { s.pendingPolls = polls }
}

// WithAddress sets the TCP address the HTTP server listens on. The
// default is "127.0.0.1:0" (loopback, a free port).
func WithAddress(addr string) Option { return func(s *server) { s.opts.Addr = addr } }

// WithoutListener makes NewServer start no HTTP server of its own: Addr
// and URL are empty, ClientOptions returns nil, and the emulator serves
// only where [Server.Handler] is mounted. The default listens on
// WithAddress.
func WithoutListener() Option {
	return func(s *server) { s.opts.NoListener = true }
}

// WithClock sets the clock on which injected latency waits. The default is
// [twostage.SystemClock].
func WithClock(clock twostage.Clock) Option { return func(s *server) { s.opts.Clock = clock } }

// WithLogger sets the logger that records every request at debug level.
// The default discards everything.
func WithLogger(l *slog.Logger) Option { return func(s *server) { s.opts.Logger = l } }

// WithErrorInjection calls f before every request of an emulated method
// with the method's name (see the package documentation, for example
// "workloadIdentityPools.create") and the *http.Request (f must not read
// its body); a non-nil error is answered instead of running the method: an
// *emulation.HTTPError as it is, any other error in Google's JSON error
// shape with the HTTP status of its gRPC code (status.Error(codes.NotFound,
// …) answers 404 NOT_FOUND). The default injects nothing.
func WithErrorInjection(f func(method string, req any) error) Option {
	return func(s *server) { s.opts.Inject = f }
}

// WithLatency delays every request of the method by d before it runs,
// waiting on the clock of WithClock. The default adds no latency.
func WithLatency(method string, d time.Duration) Option {
	return func(s *server) { s.opts.SetLatency(method, d) }
}

// WithMaxRequests keeps only the newest n entries of the request log (see
// [Server.Requests]); n ≤ 0 keeps every entry, the default.
func WithMaxRequests(n int) Option { return func(s *server) { s.opts.MaxRequests = n } }

// Server is a running emulator of the IAM v1 REST API subset that
// google.golang.org/api/iam/v1 uses for workload identity pools and
// providers and for service-account IAM policies. Its methods are safe for
// concurrent use.
type Server struct {
	// Addr is the "host:port" the server listens on; empty with
	// WithoutListener.
	Addr string

	lis     *emulator.HTTPServer // nil with WithoutListener
	handler http.Handler
	s       *server
}

type server struct {
	opts emulator.Options // set by options only
	kit  *emulator.Kit    // the request log and the fault injection

	mu           sync.Mutex // guards every field below
	numbers      map[string]string
	pools        map[string]*iam.WorkloadIdentityPool         // by canonical name
	providers    map[string]*iam.WorkloadIdentityPoolProvider // by canonical name
	ops          map[string]*operation
	accounts     map[string]*saPolicy // by email
	pendingPolls int
	seq          int
	opSalt       string // makes operation IDs differ between processes
}

// NewServer starts an emulator on loopback (see WithAddress). Close it when
// done.
func NewServer(opts ...Option) (*Server, error) {
	s := &server{
		numbers:   map[string]string{},
		pools:     map[string]*iam.WorkloadIdentityPool{},
		providers: map[string]*iam.WorkloadIdentityPoolProvider{},
		ops:       map[string]*operation{},
		opSalt:    rand.Text(),
		accounts:  map[string]*saPolicy{},
	}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	s.opts.Defaults()
	s.kit = emulator.NewKit("iamfake", s.opts)
	srv := &Server{s: s, handler: s.kit.HTTP(s.methodOf, nil, s)}
	if s.opts.NoListener {
		return srv, nil
	}
	lis, err := emulator.ListenHTTP(s.opts.Addr, srv.handler)
	if err != nil {
		return nil, fmt.Errorf("iamfake: %w", err)
	}
	srv.Addr, srv.lis = lis.Addr, lis
	return srv, nil
}

// Handler returns the emulator's HTTP handler, with its request log and
// fault injection: the IAM v1 REST paths under "/v1/projects/", to serve
// on another server (package fake/emulators serves it beside the other
// emulators on one address).
func (s *Server) Handler() http.Handler { return s.handler }

// URL returns the base URL to give an IAM client as its endpoint,
// "http://ADDR/"; empty with WithoutListener.
func (s *Server) URL() string {
	if s.lis == nil {
		return ""
	}
	return s.lis.URL() + "/"
}

// Client returns a plain HTTP client for the server; nil with
// WithoutListener.
func (s *Server) Client() *http.Client { return s.lis.Client() }

// ClientOptions returns the options that point an iam.Service at the
// emulator: iam.NewService(ctx, srv.ClientOptions()...). It returns nil
// with WithoutListener.
func (s *Server) ClientOptions() []option.ClientOption {
	if s.lis == nil {
		return nil
	}
	return []option.ClientOption{
		option.WithEndpoint(s.URL()),
		option.WithoutAuthentication(),
		option.WithHTTPClient(s.lis.Client()),
	}
}

// Close stops the server at once, ending open requests, and waits for it.
func (s *Server) Close() error { return s.lis.Close() }

// InjectError makes the next times requests of the method (named as in
// WithErrorInjection, such as "serviceAccounts.setIamPolicy") fail with err
// without running; see WithErrorInjection for how err is answered. times <
// 0 fails every call; a nil err or times == 0 removes the injection.
func (s *Server) InjectError(method string, err error, times int) {
	s.s.kit.Faults.Inject(method, err, times)
}

// Requests returns a copy of the request log in arrival order (see
// WithMaxRequests). Requests of no emulated method have an empty Method.
func (s *Server) Requests() []emulation.Request { return s.s.kit.Log.Requests() }

// Count returns how many requests of the method the server has received
// since it started or since ResetRequests.
func (s *Server) Count(method string) int { return s.s.kit.Log.Count(method) }

// ResetRequests empties the request log and its counts.
func (s *Server) ResetRequests() { s.s.kit.Log.Reset() }

// CompleteOperations completes every pending operation, applying its
// change. It returns how many it completed.
func (s *Server) CompleteOperations() int {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	n := 0
	for _, op := range s.s.ops {
		if !op.op.Done {
			s.s.complete(op)
			n++
		}
	}
	return n
}

// Pool returns a copy of the pool named name, or nil.
func (s *Server) Pool(name string) *iam.WorkloadIdentityPool {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	p := s.s.pools[s.s.canonical(name)]
	if p == nil {
		return nil
	}
	return clonePool(p)
}

// Provider returns a copy of the provider named name, or nil.
func (s *Server) Provider(name string) *iam.WorkloadIdentityPoolProvider {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	p := s.s.providers[s.s.canonical(name)]
	if p == nil {
		return nil
	}
	return cloneProvider(p)
}

// ServiceAccountPolicy returns a copy of the IAM policy of service account
// email, or nil for an unknown account.
func (s *Server) ServiceAccountPolicy(email string) *iam.Policy {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	a := s.s.accounts[email]
	if a == nil {
		return nil
	}
	return clonePolicy(a.policy)
}

// ModifyServiceAccountPolicy edits the policy of service account email in
// place, as a concurrent administrator would; the etag then changes.
func (s *Server) ModifyServiceAccountPolicy(email string, f func(*iam.Policy)) error {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	a := s.s.accounts[email]
	if a == nil {
		return fmt.Errorf("modifying policy of service account %q: no such account (add it with WithServiceAccount)", email)
	}
	f(a.policy)
	a.policy.Etag = s.s.nextEtag()
	a.policy.Version = policyVersion(a.policy)
	return nil
}

func (s *server) nextEtag() string {
	s.seq++
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "etag-%d", s.seq))
}

// canonical rewrites "projects/ID/..." to "projects/NUMBER/..." when the
// number of ID is known.
func (s *server) canonical(name string) string {
	rest, ok := strings.CutPrefix(name, "projects/")
	if !ok {
		return name
	}
	id, tail, _ := strings.Cut(rest, "/")
	if n, ok := s.numbers[id]; ok {
		id = n
	}
	if tail == "" {
		return "projects/" + id
	}
	return "projects/" + id + "/" + tail
}
