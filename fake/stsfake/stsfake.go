package stsfake

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake/emulation"
	"github.com/twostage/twostage/fake/iamfake"
	"github.com/twostage/twostage/internal/emulator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Token types and grant of the STS exchange (RFC 8693; STS v1 token
// reference).
const (
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAccessToken   = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT           = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDToken       = "urn:ietf:params:oauth:token-type:id_token"
)

// Lifetimes of what the server issues.
const (
	// AccessTokenLifetime is the expires_in of STS access tokens.
	AccessTokenLifetime = time.Hour
	// ActionsTokenLifetime is the lifetime of tokens from the Actions
	// request endpoint (GitHub's last about five minutes; unverified).
	ActionsTokenLifetime = 5 * time.Minute
)

// Option configures a Server.
type Option func(*options)

type options struct {
	emulator.Options
	issuer       string
	requestToken string
	key          *rsa.PrivateKey
	iam          *iamfake.Server
}

// The methods the emulator serves, as WithErrorInjection, InjectError,
// WithLatency and Count name them.
const (
	// MethodDiscovery is GET /.well-known/openid-configuration.
	MethodDiscovery = "discovery"
	// MethodJWKS is GET /.well-known/jwks.
	MethodJWKS = "jwks"
	// MethodActions is the GitHub Actions ID token request, GET /actions/token.
	MethodActions = "actions"
	// MethodToken is the STS token exchange, POST /v1/token (the STS
	// v1 REST method "token").
	MethodToken = "token"
	// MethodGenerateAccessToken is IAM Credentials
	// projects.serviceAccounts.generateAccessToken.
	MethodGenerateAccessToken = "serviceAccounts.generateAccessToken"
	// MethodGenerateIDToken is IAM Credentials
	// projects.serviceAccounts.generateIdToken.
	MethodGenerateIDToken = "serviceAccounts.generateIdToken"
	// MethodSignBlob is IAM Credentials projects.serviceAccounts.signBlob.
	MethodSignBlob = "serviceAccounts.signBlob"
)

// WithAddress sets the TCP address the HTTP server listens on. The
// default is "127.0.0.1:0" (loopback, a free port).
func WithAddress(addr string) Option { return func(o *options) { o.Addr = addr } }

// WithoutListener makes NewServer start no HTTP server of its own: Addr
// and URL are empty and the emulator serves only where [Server.Handler] is
// mounted. The default listens on WithAddress.
func WithoutListener() Option { return func(o *options) { o.NoListener = true } }

// WithErrorInjection calls f before every request of a served method with
// the method's name (MethodToken, ...) and the *http.Request (f must not
// read its body); a non-nil error is answered instead of running the
// method: an *emulation.HTTPError as it is, any other error with the HTTP
// status of its gRPC code (status.Code), in STS's OAuth error shape for
// MethodToken and in Google's JSON error shape otherwise. For example, to
// fail the first exchange:
//
//	var n atomic.Int32
//	stsfake.WithErrorInjection(func(method string, _ any) error {
//		if method == stsfake.MethodToken && n.Add(1) == 1 {
//			return &emulation.HTTPError{Status: 503, Body: map[string]string{"error": "temporarily_unavailable"}}
//		}
//		return nil
//	})
//
// The default injects nothing. f must be safe for concurrent use.
func WithErrorInjection(f func(method string, req any) error) Option {
	return func(o *options) { o.Inject = f }
}

// WithLatency delays every request of the method by d before it runs,
// waiting on the clock of WithClock. The default adds no latency.
func WithLatency(method string, d time.Duration) Option {
	return func(o *options) { o.SetLatency(method, d) }
}

// WithMaxRequests keeps only the newest n entries of the request log (see
// [Server.Requests]); n ≤ 0 keeps every entry, the default.
func WithMaxRequests(n int) Option { return func(o *options) { o.MaxRequests = n } }

// WithClock sets the clock for token lifetimes and expiry checks, on which
// injected latency waits. The default is [twostage.SystemClock].
func WithClock(c twostage.Clock) Option { return func(o *options) { o.Clock = c } }

// WithLogger sets the logger of requests (never tokens). The default
// discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.Logger = l } }

// WithIssuer sets the iss of the tokens the server signs, and the issuer
// STS trusts the server's key for. The default is [GitHubIssuer], so
// providers configured for GitHub Actions work unchanged.
func WithIssuer(iss string) Option { return func(o *options) { o.issuer = iss } }

// WithRequestToken sets the bearer token the Actions request endpoint
// accepts. The default is a random one (see [Server.RequestToken]).
func WithRequestToken(tok string) Option { return func(o *options) { o.requestToken = tok } }

// WithKey sets the RSA signing key. The default is a 2048-bit key
// generated by NewServer.
func WithKey(k *rsa.PrivateKey) Option { return func(o *options) { o.key = k } }

// Identity is who an access token issued by the server belongs to.
type Identity struct {
	// Principal is the IAM identifier of the caller: a federated
	// principal://…/subject/SUBJECT, or serviceAccount:EMAIL for an
	// impersonated token.
	Principal string
	// Provider is the resource name of the provider that accepted the
	// subject token.
	Provider string
	// Pool is the resource name of the provider's pool,
	// "projects/NUMBER/locations/global/workloadIdentityPools/POOL".
	Pool string
	// Attributes are the mapped attributes ("google.subject",
	// "attribute.repository_id", …).
	Attributes map[string]string
	// Groups are the mapped google.groups.
	Groups []string
	// ServiceAccount is the impersonated service account, if any.
	ServiceAccount string
	// Scopes are the granted scopes.
	Scopes []string
	// Expiry is when the token stops being accepted.
	Expiry time.Time
}

// Matches reports whether IAM member (a principal://, principalSet:// or
// serviceAccount: identifier) includes the identity.
func (id Identity) Matches(member string) bool {
	if member == id.Principal {
		return true // user:…, serviceAccount:… (MintAccessToken), principal://…
	}
	if id.ServiceAccount != "" {
		return member == "serviceAccount:"+id.ServiceAccount
	}
	// principal://iam.googleapis.com/POOL/subject/SUBJECT and
	// principalSet://iam.googleapis.com/POOL/{group/G, attribute.NAME/V, *}
	// (IAM's principal identifiers for workload identity pools).
	if rest, ok := strings.CutPrefix(member, "principal://iam.googleapis.com/"+id.Pool+"/"); ok {
		sub, ok := strings.CutPrefix(rest, "subject/")
		return ok && sub == id.Attributes["google.subject"]
	}
	rest, ok := strings.CutPrefix(member, "principalSet://iam.googleapis.com/"+id.Pool+"/")
	if !ok {
		return false
	}
	if rest == "*" {
		return true
	}
	if g, ok := strings.CutPrefix(rest, "group/"); ok {
		return slices.Contains(id.Groups, g)
	}
	if a, ok := strings.CutPrefix(rest, "attribute."); ok {
		name, value, ok := strings.Cut(a, "/")
		v, has := id.Attributes["attribute."+name]
		return ok && has && v == value
	}
	return false
}

// Email returns the identity as Cloud Run's creator and last_modifier
// fields name a caller: the service account's email, a user's email, or
// (a federated principal) its principal:// identifier (unverified).
func (id Identity) Email() string {
	if id.ServiceAccount != "" {
		return id.ServiceAccount
	}
	for _, prefix := range []string{"user:", "serviceAccount:", "group:"} {
		if e, ok := strings.CutPrefix(id.Principal, prefix); ok {
			return e
		}
	}
	return id.Principal
}

func (id Identity) clone() Identity {
	id.Attributes = maps.Clone(id.Attributes)
	id.Groups = slices.Clone(id.Groups)
	id.Scopes = slices.Clone(id.Scopes)
	return id
}

// Server is the emulator. Create it with [NewServer]; it is safe for
// concurrent use.
type Server struct {
	// Addr is the "host:port" the server listens on; empty with
	// WithoutListener.
	Addr string

	lis          *emulator.HTTPServer // nil with WithoutListener
	handler      http.Handler
	kit          *emulator.Kit // the request log and the fault injection
	clock        twostage.Clock
	logger       *slog.Logger
	issuer       string
	requestToken string
	key          *rsa.PrivateKey
	kid          string
	judge        judge // caches the providers' compiled CEL
	iam          *iamfake.Server

	mu             sync.Mutex          // guards everything below
	providers      map[string]Provider // by name
	tokens         map[string]Identity
	order          []string // access tokens in issue order
	actionsClaims  map[string]any
	impersonations map[string][]string // email → members allowed
}

// NewServer starts an emulator on loopback (see WithAddress). Close it when
// done.
func NewServer(opts ...Option) (*Server, error) {
	o := options{issuer: GitHubIssuer}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	o.Defaults()
	if o.key == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("stsfake: generating the signing key: %w", err)
		}
		o.key = k
	}
	if o.requestToken == "" {
		o.requestToken = "ghs-request-" + randomHex(16)
	}
	s := &Server{
		kit:            emulator.NewKit("stsfake", o.Options),
		clock:          o.Clock,
		logger:         o.Logger,
		issuer:         o.issuer,
		requestToken:   o.requestToken,
		key:            o.key,
		kid:            keyID(&o.key.PublicKey),
		providers:      make(map[string]Provider),
		iam:            o.iam,
		tokens:         make(map[string]Identity),
		impersonations: make(map[string][]string),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", s.handleDiscovery)
	mux.HandleFunc("GET /.well-known/jwks", s.handleJWKS)
	mux.HandleFunc("GET /actions/token", s.handleActions)
	mux.HandleFunc("POST /v1/token", s.handleSTS)
	mux.HandleFunc("POST /v1/projects/-/serviceAccounts/{name}", s.handleCredentials)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{
			"code": 404, "status": "NOT_FOUND",
			"message": fmt.Sprintf("stsfake: %s %s is not emulated; served: GET /.well-known/openid-configuration, GET /.well-known/jwks, GET /actions/token, POST /v1/token, POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken (:generateIdToken, :signBlob)", r.Method, r.URL.Path),
		}})
	})
	s.handler = s.kit.HTTP(methodOf, writeError, mux)
	if o.NoListener {
		return s, nil
	}
	lis, err := emulator.ListenHTTP(o.Addr, s.handler)
	if err != nil {
		return nil, fmt.Errorf("stsfake: %w", err)
	}
	s.Addr, s.lis = lis.Addr, lis
	return s, nil
}

// methodOf names the served method of r, or "".
func methodOf(r *http.Request) string {
	switch p := r.URL.Path; {
	case r.Method == http.MethodGet && p == "/.well-known/openid-configuration":
		return MethodDiscovery
	case r.Method == http.MethodGet && p == "/.well-known/jwks":
		return MethodJWKS
	case r.Method == http.MethodGet && p == "/actions/token":
		return MethodActions
	case r.Method == http.MethodPost && p == "/v1/token":
		return MethodToken
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/v1/projects/-/serviceAccounts/") && strings.HasSuffix(p, ":generateAccessToken"):
		return MethodGenerateAccessToken
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/v1/projects/-/serviceAccounts/") && strings.HasSuffix(p, ":generateIdToken"):
		return MethodGenerateIDToken
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/v1/projects/-/serviceAccounts/") && strings.HasSuffix(p, ":signBlob"):
		return MethodSignBlob
	}
	return ""
}

// writeError answers an injected error: in STS's OAuth error shape for the
// token exchange, in Google's JSON error shape otherwise, with the HTTP
// status of err's gRPC code. The OAuth error codes chosen for gRPC codes
// are the emulator's own (RFC 6749 section 5.2 and RFC 8693 section 2.2.2
// name them, not the mapping).
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	if methodOf(r) != MethodToken {
		emulator.WriteGoogleError(w, r, err)
		return
	}
	st := status.Convert(err)
	code := "invalid_request"
	switch st.Code() {
	case codes.Unauthenticated, codes.PermissionDenied:
		code = "unauthorized_client"
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded:
		code = "temporarily_unavailable"
	case codes.Internal, codes.Unknown, codes.DataLoss:
		code = "server_error"
	}
	stsError(w, emulator.HTTPStatus(st.Code()), code, st.Message())
}

// Handler returns the emulator's HTTP handler, with its request log and
// fault injection, to serve on another server (package fake/emulators
// serves it beside the other emulators on one address). The discovery
// document names the JWKS on the host the request was sent to.
func (s *Server) Handler() http.Handler { return s.handler }

// URL returns the base URL, "http://ADDR"; empty with WithoutListener.
func (s *Server) URL() string { return s.lis.URL() }

// Close stops the server at once, ending open requests, and waits for it.
func (s *Server) Close() error { return s.lis.Close() }

// Client returns a plain HTTP client for the server; nil with
// WithoutListener.
func (s *Server) Client() *http.Client { return s.lis.Client() }

// InjectError makes the next times requests of the method (MethodToken,
// ...) fail with err without running; see WithErrorInjection for how err
// is answered. times < 0 fails every call; a nil err or times == 0 removes
// the injection.
func (s *Server) InjectError(method string, err error, times int) {
	s.kit.Faults.Inject(method, err, times)
}

// Requests returns a copy of the request log in arrival order (see
// WithMaxRequests). Requests of no served method have an empty Method.
func (s *Server) Requests() []emulation.Request { return s.kit.Log.Requests() }

// Count returns how many requests of the method (MethodToken, ...) the
// server has received, answered or refused, since it started or since
// ResetRequests.
func (s *Server) Count(method string) int { return s.kit.Log.Count(method) }

// ResetRequests empties the request log and its counts.
func (s *Server) ResetRequests() { s.kit.Log.Reset() }

// TokenURL returns the STS token endpoint (the token URL of an external
// account configuration).
func (s *Server) TokenURL() string { return s.URL() + "/v1/token" }

// IAMCredentialsURL returns the base URL of the IAM Credentials API, for
// an impersonating client.
func (s *Server) IAMCredentialsURL() string { return s.URL() }

// IssuerURL returns the issuer (iss) of the tokens the server signs; STS
// verifies tokens of this issuer with the server's key.
func (s *Server) IssuerURL() string { return s.issuer }

// DiscoveryURL returns the URL of the OpenID configuration document.
func (s *Server) DiscoveryURL() string { return s.URL() + "/.well-known/openid-configuration" }

// ActionsRequestURL returns the value $ACTIONS_ID_TOKEN_REQUEST_URL would
// have in a GitHub Actions job.
func (s *Server) ActionsRequestURL() string { return s.URL() + "/actions/token?api-version=2.0" }

// RequestToken returns the bearer token the Actions request endpoint
// accepts ($ACTIONS_ID_TOKEN_REQUEST_TOKEN).
func (s *Server) RequestToken() string { return s.requestToken }

// SetActionsClaims sets the claims of the tokens the Actions request
// endpoint returns; iss, aud, iat, nbf, exp and jti are filled in per
// request. Until it is called the endpoint answers 404.
func (s *Server) SetActionsClaims(c map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.actionsClaims = maps.Clone(c)
}

// AddProvider registers (or replaces) a provider; STS finds it by the
// audience of the exchange. Its Name must name the project by number
// ("projects/123456789012/locations/global/workloadIdentityPools/P/providers/X").
// Providers created through the IAM emulator given to [WithIAM] need no
// AddProvider.
func (s *Server) AddProvider(p Provider) error {
	if _, ok := parseProviderName(p.Name); !ok {
		return fmt.Errorf("stsfake: adding provider: name %q is not projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/ID (its project is not a project number, or it is malformed)", p.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.providers[p.Name] = p.clone()
	return nil
}

// RemoveProvider forgets the provider with the resource name, as if it had
// been deleted.
func (s *Server) RemoveProvider(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.providers, name)
}

// provider returns the provider with the resource name: one added with
// AddProvider, else one of the IAM emulator of WithIAM (with its pool's
// disabled state), and whether it exists.
func (s *Server) provider(name string) (Provider, bool) {
	s.mu.Lock()
	p, ok := s.providers[name]
	s.mu.Unlock()
	if ok || s.iam == nil {
		return p, ok
	}
	ip := s.iam.Provider(name)
	if ip == nil {
		return Provider{}, false
	}
	p = Provider{
		Name:               name,
		AttributeMapping:   ip.AttributeMapping,
		AttributeCondition: ip.AttributeCondition,
		Disabled:           ip.Disabled || ip.State != "" && ip.State != "ACTIVE",
	}
	if ip.Oidc != nil {
		p.IssuerURI, p.AllowedAudiences = ip.Oidc.IssuerUri, ip.Oidc.AllowedAudiences
	}
	pool, _ := parseProviderName(name)
	if pl := s.iam.Pool(pool); pl == nil || pl.Disabled || pl.State != "" && pl.State != "ACTIVE" {
		p.Disabled = true
	}
	return p, true
}

// AllowImpersonation lets the identities matching any of members (IAM
// member strings, as for roles/iam.workloadIdentityUser) mint tokens for
// the service account email.
func (s *Server) AllowImpersonation(email string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.impersonations[email] = append(s.impersonations[email], members...)
}

// Tokens returns the identities of every access token issued so far, in
// issue order.
func (s *Server) Tokens() []Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Identity, 0, len(s.order))
	for _, t := range s.order {
		out = append(out, s.tokens[t].clone())
	}
	return out
}

// Identity returns who accessToken belongs to, if the server issued it and
// it has not expired.
func (s *Server) Identity(accessToken string) (Identity, bool) {
	s.mu.Lock()
	id, ok := s.tokens[accessToken]
	s.mu.Unlock()
	if !ok || !s.clock.Now().Before(id.Expiry) {
		return Identity{}, false
	}
	return id.clone(), true
}

// Resolve returns the principal of accessToken for the emulators' IAM
// enforcement (emulation.IAM.Resolve), if the server issued it and it has
// not expired.
func (s *Server) Resolve(accessToken string) (emulation.Principal, bool) {
	id, ok := s.Identity(accessToken)
	if !ok {
		return nil, false
	}
	return id, true
}

// MintAccessToken issues an access token of principal, an IAM member such
// as "user:alice@example.com" or "serviceAccount:ci@P.iam.gserviceaccount.com",
// valid for ttl on the server's clock, as if that principal had signed in:
// tests use it to call the emulators as a named principal when IAM is
// enforced.
func (s *Server) MintAccessToken(principal string, ttl time.Duration) string {
	id := Identity{Principal: principal, Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"}, Expiry: s.clock.Now().Add(ttl)}
	if sa, ok := strings.CutPrefix(principal, "serviceAccount:"); ok {
		id.ServiceAccount = sa
	}
	tok := "ya29.stsfake-minted-" + randomHex(24)
	s.store(tok, id)
	return tok
}

// Principal returns the IAM identifier of accessToken's caller
// (principal://… or serviceAccount:…), if the server issued it and it has
// not expired.
func (s *Server) Principal(accessToken string) (string, bool) {
	id, ok := s.Identity(accessToken)
	return id.Principal, ok
}

// IdentityFromHeader returns the identity of an "Authorization: Bearer
// TOKEN" header value.
func (s *Server) IdentityFromHeader(authorization string) (Identity, bool) {
	tok, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok {
		return Identity{}, false
	}
	return s.Identity(strings.TrimSpace(tok))
}

// IssueToken signs an RS256 JWT with claims. It fills in iss (the
// server's issuer), iat and nbf (now) and exp (now + ttl) when claims lack
// them. It panics if claims cannot be encoded as JSON.
func (s *Server) IssueToken(claims map[string]any, ttl time.Duration) string {
	now := s.clock.Now()
	c := maps.Clone(claims)
	if c == nil {
		c = map[string]any{}
	}
	setDefault(c, "iss", s.issuer)
	setDefault(c, "iat", now.Unix())
	setDefault(c, "nbf", now.Unix())
	setDefault(c, "exp", now.Add(ttl).Unix())
	setDefault(c, "jti", randomHex(8))
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": s.kid})
	if err != nil {
		panic(err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("stsfake: IssueToken: claims are not JSON: %v", err))
	}
	signed := b64(header) + "." + b64(payload)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		panic(fmt.Sprintf("stsfake: signing: %v", err))
	}
	return signed + "." + b64(sig)
}

func setDefault(c map[string]any, k string, v any) {
	if _, ok := c[k]; !ok {
		c[k] = v
	}
}

// verify checks a JWT's signature with the server's key and returns its
// claims.
func (s *Server) verify(jwt string) (map[string]any, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, errors.New("malformed JWT header")
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, errors.New("malformed JWT header")
	}
	if h.Alg != "RS256" {
		return nil, fmt.Errorf("unsupported JWT algorithm %q", h.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errors.New("malformed JWT signature")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&s.key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		return nil, errors.New("invalid JWT signature")
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("malformed JWT payload")
	}
	var claims map[string]any
	if err := json.Unmarshal(pb, &claims); err != nil || claims == nil {
		return nil, errors.New("malformed JWT payload")
	}
	return claims, nil
}
