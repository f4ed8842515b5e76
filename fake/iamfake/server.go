package iamfake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

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

// WithoutListener makes NewServer start no HTTP server of its own: URL is
// empty, ClientOptions returns nil, and the emulator serves only where
// [Server.Handler] is mounted. The default starts an httptest server on
// loopback.
func WithoutListener() Option {
	return func(s *server) { s.noListener = true }
}

// Server is a running emulator of the IAM v1 REST API subset that
// google.golang.org/api/iam/v1 uses for workload identity pools and
// providers and for service-account IAM policies. Its methods are safe for
// concurrent use.
type Server struct {
	// URL is the base URL ("http://127.0.0.1:PORT/") to give the client as
	// its endpoint; empty with WithoutListener.
	URL string

	hs *httptest.Server // nil with WithoutListener
	s  *server
}

type operation struct {
	op     *iam.Operation
	polls  int    // operations.get calls left before it completes
	commit func() // applies the change; guarded by server.mu
}

type saPolicy struct {
	project string
	policy  *iam.Policy
}

type server struct {
	mu           sync.Mutex // guards every field below
	numbers      map[string]string
	pools        map[string]*iam.WorkloadIdentityPool         // by canonical name
	providers    map[string]*iam.WorkloadIdentityPoolProvider // by canonical name
	ops          map[string]*operation
	accounts     map[string]*saPolicy // by email
	pendingPolls int
	seq          int
	failures     map[string][]failure
	calls        map[string]int
	noListener   bool // set by options only
}

type failure struct {
	code int
	msg  string
}

// NewServer starts an emulator on an httptest server bound to loopback.
func NewServer(opts ...Option) *Server {
	s := &server{
		numbers:   map[string]string{},
		pools:     map[string]*iam.WorkloadIdentityPool{},
		providers: map[string]*iam.WorkloadIdentityPoolProvider{},
		ops:       map[string]*operation{},
		accounts:  map[string]*saPolicy{},
		failures:  map[string][]failure{},
		calls:     map[string]int{},
	}
	for _, o := range opts {
		o(s)
	}
	if s.noListener {
		return &Server{s: s}
	}
	hs := httptest.NewServer(s)
	return &Server{URL: hs.URL + "/", hs: hs, s: s}
}

// Handler returns the emulator's HTTP handler: the IAM v1 REST paths under
// "/v1/projects/", to serve on another server (package fake/emulators
// serves it beside the other emulators on one address).
func (s *Server) Handler() http.Handler { return s.s }

// ClientOptions returns the options that point an iam.Service at the
// emulator: iam.NewService(ctx, srv.ClientOptions()...). It returns nil
// with WithoutListener.
func (s *Server) ClientOptions() []option.ClientOption {
	if s.hs == nil {
		return nil
	}
	return []option.ClientOption{
		option.WithEndpoint(s.URL),
		option.WithoutAuthentication(),
		option.WithHTTPClient(s.hs.Client()),
	}
}

// Close shuts the server down.
func (s *Server) Close() {
	if s.hs != nil {
		s.hs.Close()
	}
}

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

// FailNext makes the next call of method fail with HTTP status code and
// message, in Google's JSON error shape. Methods are named as in the API
// discovery document, for example "workloadIdentityPools.create",
// "providers.patch", "serviceAccounts.setIamPolicy". Calls queue: two
// FailNext of one method fail its next two calls.
func (s *Server) FailNext(method string, code int, message string) {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	s.s.failures[method] = append(s.s.failures[method], failure{code, message})
}

// Calls returns how many requests of method the server has received
// (method named as in [Server.FailNext]).
func (s *Server) Calls(method string) int {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	return s.s.calls[method]
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

// apiError is Google's JSON error body.
type apiError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

// statusOf names the canonical status of an HTTP code as the Google error
// shape does (https://cloud.google.com/apis/design/errors).
func statusOf(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ALREADY_EXISTS"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusPreconditionFailed:
		return "FAILED_PRECONDITION"
	}
	return "INTERNAL"
}

type httpErr struct {
	code   int
	status string // default statusOf(code)
	msg    string
}

func errorf(code int, format string, args ...any) *httpErr {
	return &httpErr{code: code, msg: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		code, buf = http.StatusInternalServerError, *bytes.NewBufferString(`{"error":{"code":500,"message":"encoding response","status":"INTERNAL"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away; nothing to do.
}

func writeErr(w http.ResponseWriter, e *httpErr) {
	var body apiError
	body.Error.Code = e.code
	body.Error.Message = e.msg
	body.Error.Status = e.status
	if body.Error.Status == "" {
		body.Error.Status = statusOf(e.code)
	}
	writeJSON(w, e.code, body)
}

// charsIn reports whether s is min..max bytes, each in allowed.
func charsIn(s string, minLen, maxLen int, allowed string) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte(allowed, c) >= 0) {
			return false
		}
	}
	return true
}

// validID checks a pool or provider ID: "4-32 characters, and may contain
// the characters [a-z0-9-]. The prefix gcp- is reserved for use by Google"
// (iam/v1 WorkloadIdentityPoolId, WorkloadIdentityPoolProviderId).
func validID(kind, id string) *httpErr {
	if !charsIn(id, 4, 32, "-") {
		return errorf(http.StatusBadRequest, "%s ID %q must be 4-32 characters of [a-z0-9-]", kind, id)
	}
	if strings.HasPrefix(id, "gcp-") {
		return errorf(http.StatusBadRequest, "%s ID %q: the prefix gcp- is reserved for use by Google", kind, id)
	}
	return nil
}

// ServeHTTP routes a request of the IAM v1 REST surface.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		writeErr(w, errorf(http.StatusNotFound, "iamfake: %s %s is not an IAM v1 path", r.Method, r.URL.Path))
		return
	}
	method, handler := s.route(r.Method, path)
	if handler == nil {
		writeErr(w, errorf(http.StatusNotImplemented, "iamfake: %s %s is not implemented by the emulator (supported: workloadIdentityPools and providers create/get/patch/list, their operations.get, serviceAccounts getIamPolicy/setIamPolicy)", r.Method, r.URL.Path))
		return
	}
	s.mu.Lock()
	s.calls[method]++
	if q := s.failures[method]; len(q) > 0 {
		f := q[0]
		s.failures[method] = q[1:]
		s.mu.Unlock()
		writeErr(w, &httpErr{code: f.code, msg: f.msg})
		return
	}
	s.mu.Unlock()
	code, v, e := handler(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	writeJSON(w, code, v)
}

type handlerFunc func(r *http.Request) (int, any, *httpErr)

// route maps METHOD + path (without "/v1/") to a discovery-style method name
// and its handler, or nil.
func (s *server) route(verb, path string) (string, handlerFunc) {
	// Service accounts: projects/P/serviceAccounts/EMAIL:getIamPolicy
	if before, action, ok := strings.Cut(path, ":"); ok {
		seg := strings.Split(before, "/")
		if verb == http.MethodPost && len(seg) == 4 && seg[0] == "projects" && seg[2] == "serviceAccounts" {
			email := seg[3]
			switch action {
			case "getIamPolicy":
				return "serviceAccounts.getIamPolicy", func(r *http.Request) (int, any, *httpErr) { return s.saGetPolicy(r, email) }
			case "setIamPolicy":
				return "serviceAccounts.setIamPolicy", func(r *http.Request) (int, any, *httpErr) { return s.saSetPolicy(r, email) }
			}
		}
		return "", nil
	}
	seg := strings.Split(path, "/")
	// projects/P/locations/global/workloadIdentityPools[/POOL[/providers[/PROV]][/operations/OP]]
	if len(seg) < 5 || seg[0] != "projects" || seg[2] != "locations" || seg[4] != "workloadIdentityPools" {
		return "", nil
	}
	if seg[3] != "global" {
		return "", nil
	}
	parent := strings.Join(seg[:4], "/")
	switch {
	case len(seg) == 5 && verb == http.MethodPost:
		return "workloadIdentityPools.create", func(r *http.Request) (int, any, *httpErr) { return s.createPool(r, parent) }
	case len(seg) == 5 && verb == http.MethodGet:
		return "workloadIdentityPools.list", func(r *http.Request) (int, any, *httpErr) { return s.listPools(r, parent) }
	case len(seg) == 6 && verb == http.MethodGet:
		return "workloadIdentityPools.get", func(*http.Request) (int, any, *httpErr) { return s.getPool(path) }
	case len(seg) == 6 && verb == http.MethodPatch:
		return "workloadIdentityPools.patch", func(r *http.Request) (int, any, *httpErr) { return s.patchPool(r, path) }
	case len(seg) == 8 && seg[6] == "operations" && verb == http.MethodGet:
		return "workloadIdentityPools.operations.get", func(*http.Request) (int, any, *httpErr) { return s.getOperation(path) }
	case len(seg) == 7 && seg[6] == "providers" && verb == http.MethodPost:
		pool := strings.Join(seg[:6], "/")
		return "providers.create", func(r *http.Request) (int, any, *httpErr) { return s.createProvider(r, pool) }
	case len(seg) == 7 && seg[6] == "providers" && verb == http.MethodGet:
		pool := strings.Join(seg[:6], "/")
		return "providers.list", func(r *http.Request) (int, any, *httpErr) { return s.listProviders(r, pool) }
	case len(seg) == 8 && seg[6] == "providers" && verb == http.MethodGet:
		return "providers.get", func(*http.Request) (int, any, *httpErr) { return s.getProvider(path) }
	case len(seg) == 8 && seg[6] == "providers" && verb == http.MethodPatch:
		return "providers.patch", func(r *http.Request) (int, any, *httpErr) { return s.patchProvider(r, path) }
	case len(seg) == 10 && seg[6] == "providers" && seg[8] == "operations" && verb == http.MethodGet:
		return "providers.operations.get", func(*http.Request) (int, any, *httpErr) { return s.getOperation(path) }
	}
	return "", nil
}

func decode(r *http.Request, v any) *httpErr {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "invalid JSON payload: %v", err)
	}
	return nil
}

// newOperation records an operation for resource name whose change commit
// applies; done at once unless pending operations were asked for. Callers
// hold mu.
func (s *server) newOperation(name string, commit func() any) *iam.Operation {
	s.seq++
	op := &operation{
		op:    &iam.Operation{Name: fmt.Sprintf("%s/operations/op-%d", name, s.seq)},
		polls: s.pendingPolls,
	}
	op.commit = func() {
		resp, _ := json.Marshal(commit())
		op.op.Response = resp
	}
	s.ops[op.op.Name] = op
	if op.polls <= 0 {
		s.complete(op)
	}
	return cloneOp(op.op)
}

func (s *server) complete(op *operation) {
	op.commit()
	op.op.Done = true
}

func (s *server) getOperation(name string) (int, any, *httpErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := s.ops[s.canonical(name)]
	if op == nil {
		return 0, nil, errorf(http.StatusNotFound, "Operation %q not found.", name)
	}
	if !op.op.Done {
		op.polls--
		if op.polls <= 0 {
			s.complete(op)
		}
	}
	return http.StatusOK, cloneOp(op.op), nil
}

func (s *server) createPool(r *http.Request, parent string) (int, any, *httpErr) {
	id := r.URL.Query().Get("workloadIdentityPoolId")
	if e := validID("pool", id); e != nil {
		return 0, nil, e
	}
	var in iam.WorkloadIdentityPool
	if e := decode(r, &in); e != nil {
		return 0, nil, e
	}
	if e := checkPool(&in); e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := s.canonical(parent) + "/workloadIdentityPools/" + id
	if s.pools[name] != nil || s.pendingCreate(name) {
		return 0, nil, errorf(http.StatusConflict, "Requested entity already exists")
	}
	p := &iam.WorkloadIdentityPool{Name: name, DisplayName: in.DisplayName, Description: in.Description, Disabled: in.Disabled, State: "ACTIVE"}
	return http.StatusOK, s.newOperation(name, func() any {
		s.pools[name] = p
		return clonePool(p)
	}), nil
}

// pendingCreate reports whether a create of name is in flight. Callers
// hold mu.
func (s *server) pendingCreate(name string) bool {
	for opName, op := range s.ops {
		if !op.op.Done && strings.HasPrefix(opName, name+"/operations/") {
			return true
		}
	}
	return false
}

// checkPool applies the documented limits: "Cannot exceed 32 characters"
// (displayName) and 256 (description) (iam/v1 WorkloadIdentityPool).
func checkPool(p *iam.WorkloadIdentityPool) *httpErr {
	if len(p.DisplayName) > 32 {
		return errorf(http.StatusBadRequest, "display name %q exceeds 32 characters", p.DisplayName)
	}
	if len(p.Description) > 256 {
		return errorf(http.StatusBadRequest, "description exceeds 256 characters")
	}
	return nil
}

func (s *server) getPool(name string) (int, any, *httpErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pools[s.canonical(name)]
	if p == nil {
		return 0, nil, errorf(http.StatusNotFound, "Requested entity was not found.")
	}
	return http.StatusOK, clonePool(p), nil
}

func updateMask(r *http.Request) ([]string, *httpErr) {
	m := r.URL.Query().Get("updateMask")
	if m == "" {
		return nil, errorf(http.StatusBadRequest, "updateMask is required")
	}
	return strings.Split(m, ","), nil
}

func (s *server) patchPool(r *http.Request, name string) (int, any, *httpErr) {
	mask, e := updateMask(r)
	if e != nil {
		return 0, nil, e
	}
	var in iam.WorkloadIdentityPool
	if e := decode(r, &in); e != nil {
		return 0, nil, e
	}
	if e := checkPool(&in); e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name = s.canonical(name)
	cur := s.pools[name]
	if cur == nil {
		return 0, nil, errorf(http.StatusNotFound, "Requested entity was not found.")
	}
	next := clonePool(cur)
	for _, f := range mask {
		switch strings.TrimSpace(f) {
		case "displayName", "display_name":
			next.DisplayName = in.DisplayName
		case "description":
			next.Description = in.Description
		case "disabled":
			next.Disabled = in.Disabled
		default:
			return 0, nil, errorf(http.StatusBadRequest, "updateMask field %q cannot be updated on a pool (displayName, description, disabled)", f)
		}
	}
	return http.StatusOK, s.newOperation(name, func() any {
		s.pools[name] = next
		return clonePool(next)
	}), nil
}

// page cuts names (sorted) into a page after token; the token is the
// last name of the previous page, base64-encoded.
func page(r *http.Request, names []string) ([]string, string, *httpErr) {
	sort.Strings(names)
	size := 50 // "If unspecified, at most 50 pools are returned."
	if v := r.URL.Query().Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, "", errorf(http.StatusBadRequest, "pageSize %q is not a non-negative integer", v)
		}
		if n > 0 {
			size = min(n, 1000) // "The maximum value is 1000"
		}
	}
	start := 0
	if t := r.URL.Query().Get("pageToken"); t != "" {
		after, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil {
			return nil, "", errorf(http.StatusBadRequest, "invalid pageToken %q", t)
		}
		start, _ = slices.BinarySearch(names, string(after)+"\x00")
	}
	end := min(start+size, len(names))
	out := names[start:end]
	next := ""
	if end < len(names) {
		next = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1]))
	}
	return out, next, nil
}

func (s *server) listPools(r *http.Request, parent string) (int, any, *httpErr) {
	// showDeleted changes nothing: the emulator has no delete, so nothing
	// is ever soft-deleted.
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix := s.canonical(parent) + "/workloadIdentityPools/"
	var names []string
	for n := range s.pools {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	got, next, e := page(r, names)
	if e != nil {
		return 0, nil, e
	}
	resp := &iam.ListWorkloadIdentityPoolsResponse{NextPageToken: next}
	for _, n := range got {
		resp.WorkloadIdentityPools = append(resp.WorkloadIdentityPools, clonePool(s.pools[n]))
	}
	return http.StatusOK, resp, nil
}

// checkProvider applies the documented rules of an OIDC provider
// (iam/v1 WorkloadIdentityPoolProvider): a mapping that includes
// google.subject; custom attribute keys of [a-z0-9_] up to 100 characters,
// at most 50 of them; mapping expressions up to 2048 characters; a condition
// up to 4096 characters; and, because "multi-tenant identity providers (such
// as GitHub or Terraform Cloud) require an attribute_condition", a condition
// when the issuer is GitHub's (the error text is unverified).
func checkProvider(p *iam.WorkloadIdentityPoolProvider, mask []string) *httpErr {
	has := func(f string) bool { return mask == nil || slices.Contains(mask, f) }
	if has("oidc") || has("oidc.issuerUri") {
		if p.Oidc == nil || p.Oidc.IssuerUri == "" {
			return errorf(http.StatusBadRequest, "provider must set oidc.issuerUri (the emulator supports OIDC providers only)")
		}
		if !strings.HasPrefix(p.Oidc.IssuerUri, "https://") {
			return errorf(http.StatusBadRequest, "oidc.issuerUri %q must be an https URL", p.Oidc.IssuerUri)
		}
	}
	if has("attributeMapping") {
		if _, ok := p.AttributeMapping["google.subject"]; !ok {
			return errorf(http.StatusBadRequest, "attributeMapping must include google.subject for an OIDC provider")
		}
		custom := 0
		for k, v := range p.AttributeMapping {
			if len(v) > 2048 {
				return errorf(http.StatusBadRequest, "attributeMapping[%q] exceeds 2048 characters", k)
			}
			switch k {
			case "google.subject", "google.groups", "google.display_name", "google.profile_photo", "google.posix_username":
				continue
			}
			a, ok := strings.CutPrefix(k, "attribute.")
			if !ok || !charsIn(a, 1, 100, "_") {
				return errorf(http.StatusBadRequest, "attributeMapping key %q must be google.subject, google.groups or attribute.NAME with NAME of [a-z0-9_] (at most 100)", k)
			}
			custom++
		}
		if custom > 50 {
			return errorf(http.StatusBadRequest, "attributeMapping defines %d custom attributes; the maximum is 50", custom)
		}
	}
	if len(p.AttributeCondition) > 4096 {
		return errorf(http.StatusBadRequest, "attributeCondition exceeds 4096 characters")
	}
	if mask == nil && p.Oidc != nil && p.Oidc.IssuerUri == GitHubIssuer && strings.TrimSpace(p.AttributeCondition) == "" {
		return errorf(http.StatusBadRequest, "The attribute condition must be provided for the issuer %s (multi-tenant identity providers require an attribute condition)", GitHubIssuer)
	}
	if len(p.DisplayName) > 32 {
		return errorf(http.StatusBadRequest, "display name %q exceeds 32 characters", p.DisplayName)
	}
	return nil
}

func (s *server) createProvider(r *http.Request, pool string) (int, any, *httpErr) {
	id := r.URL.Query().Get("workloadIdentityPoolProviderId")
	if e := validID("provider", id); e != nil {
		return 0, nil, e
	}
	var in iam.WorkloadIdentityPoolProvider
	if e := decode(r, &in); e != nil {
		return 0, nil, e
	}
	if e := checkProvider(&in, nil); e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pool = s.canonical(pool)
	if s.pools[pool] == nil {
		return 0, nil, errorf(http.StatusNotFound, "Requested entity was not found. (pool %s does not exist)", pool)
	}
	name := pool + "/providers/" + id
	if s.providers[name] != nil || s.pendingCreate(name) {
		return 0, nil, errorf(http.StatusConflict, "Requested entity already exists")
	}
	p := cloneProvider(&in)
	p.Name, p.State = name, "ACTIVE"
	return http.StatusOK, s.newOperation(name, func() any {
		s.providers[name] = p
		return cloneProvider(p)
	}), nil
}

func (s *server) getProvider(name string) (int, any, *httpErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.providers[s.canonical(name)]
	if p == nil {
		return 0, nil, errorf(http.StatusNotFound, "Requested entity was not found.")
	}
	return http.StatusOK, cloneProvider(p), nil
}

func (s *server) patchProvider(r *http.Request, name string) (int, any, *httpErr) {
	mask, e := updateMask(r)
	if e != nil {
		return 0, nil, e
	}
	var in iam.WorkloadIdentityPoolProvider
	if e := decode(r, &in); e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name = s.canonical(name)
	cur := s.providers[name]
	if cur == nil {
		return 0, nil, errorf(http.StatusNotFound, "Requested entity was not found.")
	}
	next := cloneProvider(cur)
	for _, f := range mask {
		switch strings.TrimSpace(f) {
		case "displayName", "display_name":
			next.DisplayName = in.DisplayName
		case "description":
			next.Description = in.Description
		case "disabled":
			next.Disabled = in.Disabled
		case "attributeMapping", "attribute_mapping":
			next.AttributeMapping = in.AttributeMapping
		case "attributeCondition", "attribute_condition":
			next.AttributeCondition = in.AttributeCondition
		case "oidc":
			next.Oidc = in.Oidc
		case "oidc.allowedAudiences", "oidc.allowed_audiences":
			if next.Oidc == nil {
				next.Oidc = &iam.Oidc{}
			}
			if in.Oidc != nil {
				next.Oidc.AllowedAudiences = in.Oidc.AllowedAudiences
			} else {
				next.Oidc.AllowedAudiences = nil
			}
		case "oidc.issuerUri", "oidc.issuer_uri":
			if next.Oidc == nil {
				next.Oidc = &iam.Oidc{}
			}
			if in.Oidc != nil {
				next.Oidc.IssuerUri = in.Oidc.IssuerUri
			}
		default:
			return 0, nil, errorf(http.StatusBadRequest, "updateMask field %q cannot be updated on a provider", f)
		}
	}
	// The result must still be a valid provider (a patch cannot drop the
	// condition of a GitHub provider either).
	if e := checkProvider(next, nil); e != nil {
		return 0, nil, e
	}
	return http.StatusOK, s.newOperation(name, func() any {
		s.providers[name] = next
		return cloneProvider(next)
	}), nil
}

func (s *server) listProviders(r *http.Request, pool string) (int, any, *httpErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pool = s.canonical(pool)
	if s.pools[pool] == nil {
		return 0, nil, errorf(http.StatusNotFound, "Requested entity was not found.")
	}
	var names []string
	for n := range s.providers {
		if strings.HasPrefix(n, pool+"/providers/") {
			names = append(names, n)
		}
	}
	got, next, e := page(r, names)
	if e != nil {
		return 0, nil, e
	}
	resp := &iam.ListWorkloadIdentityPoolProvidersResponse{NextPageToken: next}
	for _, n := range got {
		resp.WorkloadIdentityPoolProviders = append(resp.WorkloadIdentityPoolProviders, cloneProvider(s.providers[n]))
	}
	return http.StatusOK, resp, nil
}

// account finds a service account by email; the project segment may be
// "-" ("projects/-/serviceAccounts/EMAIL" infers the project).
func (s *server) account(email string) (*saPolicy, *httpErr) {
	a := s.accounts[email]
	if a == nil {
		return nil, errorf(http.StatusNotFound, "Service account projects/-/serviceAccounts/%s does not exist.", email)
	}
	return a, nil
}

func policyVersion(p *iam.Policy) int64 {
	for _, b := range p.Bindings {
		if b.Condition != nil {
			return 3
		}
	}
	return 1
}

func (s *server) saGetPolicy(r *http.Request, email string) (int, any, *httpErr) {
	v := int64(0)
	if q := r.URL.Query().Get("options.requestedPolicyVersion"); q != "" {
		n, err := strconv.ParseInt(q, 10, 64)
		if err != nil || (n != 0 && n != 1 && n != 3) {
			return 0, nil, errorf(http.StatusBadRequest, "invalid requested policy version %q: valid values are 0, 1 and 3", q)
		}
		v = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, e := s.account(email)
	if e != nil {
		return 0, nil, e
	}
	out := clonePolicy(a.policy)
	if out.Version == 3 && v < 3 {
		// Requests for policies with conditional role bindings must specify
		// version 3 (iam/v1 OptionsRequestedPolicyVersion); the emulator
		// refuses rather than imitating the undocumented role renaming.
		return 0, nil, errorf(http.StatusBadRequest, "the policy of %s has conditional role bindings: request policy version 3", email)
	}
	return http.StatusOK, out, nil
}

func (s *server) saSetPolicy(r *http.Request, email string) (int, any, *httpErr) {
	var in iam.SetIamPolicyRequest
	if e := decode(r, &in); e != nil {
		return 0, nil, e
	}
	if in.Policy == nil {
		return 0, nil, errorf(http.StatusBadRequest, "policy is required")
	}
	p := in.Policy
	if p.Version != 0 && p.Version != 1 && p.Version != 3 {
		return 0, nil, errorf(http.StatusBadRequest, "invalid policy version %d: valid values are 0, 1 and 3", p.Version)
	}
	for i, b := range p.Bindings {
		if !strings.HasPrefix(b.Role, "roles/") && !strings.HasPrefix(b.Role, "projects/") && !strings.HasPrefix(b.Role, "organizations/") {
			return 0, nil, errorf(http.StatusBadRequest, "binding %d: role %q is not a role name", i, b.Role)
		}
		if len(b.Members) == 0 {
			return 0, nil, errorf(http.StatusBadRequest, "binding %d (%s) has no members: each binding must contain at least one principal", i, b.Role)
		}
		if b.Condition != nil && p.Version != 3 {
			return 0, nil, errorf(http.StatusBadRequest, "policy version %d cannot contain conditional role bindings: set version 3", p.Version)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, e := s.account(email)
	if e != nil {
		return 0, nil, e
	}
	if p.Etag != "" && p.Etag != a.policy.Etag {
		return 0, nil, &httpErr{code: http.StatusConflict, status: "ABORTED", msg: ConcurrentChangeMessage}
	}
	next := clonePolicy(p)
	next.Etag = s.nextEtag()
	next.Version = policyVersion(next)
	next.AuditConfigs = a.policy.AuditConfigs
	a.policy = next
	return http.StatusOK, clonePolicy(next), nil
}

// clone helpers: a JSON round trip keeps them short and deep.
func cloneJSON[T any](v *T) *T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("iamfake: cloning %T: %v", v, err))
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("iamfake: cloning %T: %v", v, err))
	}
	return out
}

func clonePool(p *iam.WorkloadIdentityPool) *iam.WorkloadIdentityPool { return cloneJSON(p) }
func cloneProvider(p *iam.WorkloadIdentityPoolProvider) *iam.WorkloadIdentityPoolProvider {
	return cloneJSON(p)
}
func clonePolicy(p *iam.Policy) *iam.Policy   { return cloneJSON(p) }
func cloneOp(o *iam.Operation) *iam.Operation { return cloneJSON(o) }
