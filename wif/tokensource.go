package wif

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/backoff"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google/externalaccount"
)

// Defaults of the token exchange.
const (
	// DefaultTokenURL is Google's STS token endpoint.
	DefaultTokenURL = "https://sts.googleapis.com/v1/token"
	// DefaultIAMCredentialsURL is the base URL of the IAM Credentials API,
	// which mints impersonated service-account tokens.
	DefaultIAMCredentialsURL = "https://iamcredentials.googleapis.com"
	// CloudPlatformScope is the default scope of the access token.
	CloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"
	// SubjectTokenTypeJWT is the subject_token_type of an OIDC token.
	SubjectTokenTypeJWT = "urn:ietf:params:oauth:token-type:jwt"
)

// Errors of the token exchange, matched by the [*ExchangeError] that
// carries the STS answer. Every one of them names the fix in its message.
var (
	// ErrConditionRejected: the provider's attribute condition refused the
	// token, typically a job of another repository, or a condition pinned to
	// the wrong repository or owner ID.
	ErrConditionRejected = errors.New("the provider's attribute condition rejected the token: check the repository and owner IDs in the condition (provision.Simulate reproduces the check; `twostage wif simulate` too)")
	// ErrAudienceMismatch: the token's aud is not one the provider allows.
	ErrAudienceMismatch = errors.New("the token's audience is not one the provider allows: request the token for the provider's default audience (https://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER) or add the audience to the provider's allowed audiences")
	// ErrProviderNotFound: the STS audience names a pool or provider that
	// does not exist, is disabled or was deleted. It also matches
	// twostage.ErrNotFound.
	ErrProviderNotFound = errors.New("the workload identity pool or provider does not exist or is disabled: check the project number, pool and provider IDs")
)

// Option configures [TokenSource] and [FromGitHubActions]; each
// ignores the options that do not concern it (FromGitHubActions uses
// WithHTTPClient, WithClock and WithLogger).
type Option func(*options) error

type options struct {
	retry          twostage.Retry
	tokenURL       string
	impersonate    string
	iamCredentials string
	scopes         []string
	httpClient     *http.Client
	clock          twostage.Clock
	logger         *slog.Logger
}

func newOptions(opts []Option) (*options, error) {
	o := &options{
		tokenURL:       DefaultTokenURL,
		iamCredentials: DefaultIAMCredentialsURL,
		scopes:         []string{CloudPlatformScope},
	}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// WithTokenURL sets the STS token endpoint, for an emulator such as
// fake/stsfake. The default is [DefaultTokenURL].
func WithTokenURL(u string) Option {
	return func(o *options) error {
		if u == "" {
			return fmt.Errorf("wif: WithTokenURL: empty URL: %w", twostage.ErrInvalid)
		}
		o.tokenURL = u
		return nil
	}
}

// WithImpersonation makes the token source impersonate the service
// account email with the federated token (the principal needs
// roles/iam.workloadIdentityUser on it). The default is no impersonation:
// the federated token itself is used, and IAM bindings name the
// principal or principal set directly.
func WithImpersonation(email string) Option {
	return func(o *options) error {
		if !strings.Contains(email, "@") {
			return fmt.Errorf("wif: WithImpersonation: %q is not a service account email: %w", email, twostage.ErrInvalid)
		}
		o.impersonate = email
		return nil
	}
}

// WithIAMCredentialsURL sets the base URL of the IAM Credentials API used
// for impersonation, for an emulator. The default is
// [DefaultIAMCredentialsURL].
func WithIAMCredentialsURL(base string) Option {
	return func(o *options) error {
		if base == "" {
			return fmt.Errorf("wif: WithIAMCredentialsURL: empty URL: %w", twostage.ErrInvalid)
		}
		o.iamCredentials = strings.TrimSuffix(base, "/")
		return nil
	}
}

// WithScopes sets the scopes of the access token. The default is
// [CloudPlatformScope].
func WithScopes(scopes ...string) Option {
	return func(o *options) error {
		if len(scopes) == 0 {
			return fmt.Errorf("wif: WithScopes: no scopes: %w", twostage.ErrInvalid)
		}
		o.scopes = scopes
		return nil
	}
}

// WithHTTPClient sets the HTTP client for GitHub, STS and IAM Credentials
// requests. The default is http.DefaultClient.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) error { o.httpClient = c; return nil }
}

// WithClock sets the clock that decides when a cached GitHub token is
// stale ([FromGitHubActions]) and on which retries wait. The default is
// twostage.SystemClock().
// (The access token's own expiry is tracked by golang.org/x/oauth2 on the
// wall clock.)
func WithClock(c twostage.Clock) Option {
	return func(o *options) error { o.clock = c; return nil }
}

// DefaultRetry is the retry policy of the exchange's calls (GitHub, STS,
// IAM Credentials) when [WithRetry] is not given: 5 attempts, backoff
// from 250ms to 5s.
var DefaultRetry = twostage.Retry{Attempts: 5, Initial: 250 * time.Millisecond, Max: 5 * time.Second}

// WithRetry sets how often a call of the exchange that fails transiently
// (HTTP 429, 502, 503, 504, or no answer) is tried, with backoff on the
// clock of [WithClock]; Attempts 1 turns retries off. The default is
// [DefaultRetry].
func WithRetry(r twostage.Retry) Option {
	return func(o *options) error {
		if r.Attempts < 0 {
			return fmt.Errorf("wif: WithRetry: Attempts %d: want 1 or more, or 0 for the default: %w", r.Attempts, twostage.ErrInvalid)
		}
		o.retry = r
		return nil
	}
}

// retry runs fn per r (zero fields from DefaultRetry) while it fails with
// a temporary error, sleeping on clock.
func retry(ctx context.Context, clock twostage.Clock, r twostage.Retry, fn func(ctx context.Context) error) error {
	p, attempts := backoff.FromRetry(r, DefaultRetry)
	return backoff.Retry(ctx, clock, p, attempts, twostage.IsTemporary, fn)
}

// WithLogger sets the logger for debug records of fetches and exchanges;
// they never contain a token. The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.logger = l; return nil }
}

// TokenSource returns a token source that exchanges the subject tokens of
// supplier (a [*GitHubOIDC], typically) for Google access tokens at STS,
// for provider, through golang.org/x/oauth2/google/externalaccount:
// Audience provider.Audience(), subject token type JWT, scopes
// cloud-platform (see [WithScopes]), optionally impersonating a service
// account ([WithImpersonation]). The result caches the access token until
// it expires and is safe for concurrent use; plug it into
// option.WithTokenSource or go-containerregistry's
// google.NewTokenSourceAuthenticator.
//
// ctx is kept and reused for every later refresh (externalaccount stores
// it): pass a context that lives as long as the token source, such as the
// program's, not a request's, or refreshes fail once it is cancelled.
//
// Errors of Token match [ErrConditionRejected], [ErrAudienceMismatch],
// [ErrProviderNotFound] (and twostage.ErrNotFound) or [ErrNoIDToken] for
// the classic failures, and errors.As finds an [*ExchangeError] with the
// STS answer. No token (the GitHub JWT, the request token or an access
// token) ever appears in an error or a log record.
func TokenSource(ctx context.Context, provider Provider, supplier externalaccount.SubjectTokenSupplier, opts ...Option) (oauth2.TokenSource, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if supplier == nil {
		return nil, fmt.Errorf("wif: TokenSource: nil subject token supplier (use FromGitHubActions): %w", twostage.ErrInvalid)
	}
	if _, err := ParseAudience(provider.Audience()); err != nil {
		return nil, fmt.Errorf("wif: TokenSource: provider %q: %w", provider.ID, err)
	}
	if o.httpClient != nil {
		// externalaccount and its impersonation step take the HTTP client
		// from the context (oauth2.NewClient).
		ctx = context.WithValue(ctx, oauth2.HTTPClient, o.httpClient)
	}
	rec := &recordingSupplier{inner: supplier}
	conf := externalaccount.Config{
		Audience:             provider.Audience(),
		SubjectTokenType:     SubjectTokenTypeJWT,
		TokenURL:             o.tokenURL,
		Scopes:               o.scopes,
		SubjectTokenSupplier: rec,
	}
	if o.impersonate != "" {
		conf.ServiceAccountImpersonationURL = o.iamCredentials + "/v1/projects/-/serviceAccounts/" + o.impersonate + ":generateAccessToken"
	}
	ts, err := externalaccount.NewTokenSource(ctx, conf)
	if err != nil {
		return nil, fmt.Errorf("wif: creating the token source for provider %q: %w", provider.Name(), err)
	}
	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	clock := o.clock
	if clock == nil {
		clock = twostage.SystemClock()
	}
	return &tokenSource{ctx: ctx, inner: ts, rec: rec, provider: provider.Name(), impersonate: o.impersonate, logger: logger, secrets: secretsOf(supplier),
		clock: clock, retry: o.retry}, nil
}

// tokenSource maps and redacts the errors of the externalaccount source,
// and retries its transient ones.
type tokenSource struct {
	ctx         context.Context // TokenSource's, kept as externalaccount keeps it
	clock       twostage.Clock
	retry       twostage.Retry
	inner       oauth2.TokenSource
	rec         *recordingSupplier
	provider    string
	impersonate string
	logger      *slog.Logger
	secrets     []string // request tokens to redact

	mu   sync.Mutex // guards last
	last *oauth2.Token
}

// Token returns the cached access token, or exchanges a new one; an STS or
// IAM Credentials answer that is transient (HTTP 429, 502, 503, 504) is
// retried per [WithRetry] (the GitHub fetch retries on its own).
func (t *tokenSource) Token() (*oauth2.Token, error) {
	var tok *oauth2.Token
	err := retry(t.ctx, t.clock, t.retry, func(context.Context) error {
		var err error
		if tok, err = t.inner.Token(); err != nil {
			secrets := append(t.rec.handedOut(), t.secrets...)
			if serr := t.rec.takeErr(); serr != nil {
				// The subject token supplier failed (externalaccount keeps
				// only its text): report its own error, which it retried
				// already.
				err = noRetry{fmt.Errorf("getting the subject token: %w", redactErr(serr, secrets...))}
			} else {
				err = mapExchangeError(err, t.impersonate != "", secrets)
			}
			t.logger.Debug("wif: token exchange failed", "provider", t.provider, "error", err.Error())
		}
		return err
	})
	if err != nil {
		var nr noRetry
		if errors.As(err, &nr) {
			err = nr.error
		}
		if cerr := t.ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			// externalaccount keeps only the text of a cancelled call.
			err = fmt.Errorf("%w (%w)", err, cerr)
		}
		return nil, fmt.Errorf("wif: getting a Google access token through provider %q: %w", t.provider, err)
	}
	t.mu.Lock()
	fresh := tok != t.last
	t.last = tok
	t.mu.Unlock()
	if fresh { // the inner source hands out its cached token otherwise
		t.logger.Debug("wif: got a Google access token", "provider", t.provider, "impersonating", t.impersonate, "expiry", tok.Expiry)
	}
	return tok, nil
}

// recordingSupplier remembers the subject tokens it handed to STS, so
// that errors quoting them can be redacted.
type recordingSupplier struct {
	inner   externalaccount.SubjectTokenSupplier
	mu      sync.Mutex // guards last and lastErr
	last    []string
	lastErr error // the supplier's last error, until taken
}

func (r *recordingSupplier) SubjectToken(ctx context.Context, o externalaccount.SupplierOptions) (string, error) {
	s, err := r.inner.SubjectToken(ctx, o)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastErr = err
	if err == nil && s != "" {
		r.last = append(r.last, s)
		if len(r.last) > 4 {
			r.last = r.last[len(r.last)-4:]
		}
	}
	return s, err
}

// takeErr returns the supplier's last error and forgets it.
func (r *recordingSupplier) takeErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.lastErr
	r.lastErr = nil
	return err
}

func (r *recordingSupplier) handedOut() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.last...)
}

func secretsOf(s externalaccount.SubjectTokenSupplier) []string {
	if g, ok := s.(*GitHubOIDC); ok && g.RequestToken != "" {
		return []string{g.RequestToken}
	}
	return nil
}

// ExchangeError is an error answer of GitHub's OIDC token endpoint, STS or
// the IAM Credentials API, with the secret parts redacted.
type ExchangeError struct {
	// Endpoint is "github", "sts" or "iamcredentials".
	Endpoint string
	// Status is the HTTP status.
	Status int
	// Code is the OAuth error code ("invalid_grant", "invalid_target",
	// "unauthorized_client", …) or the Google API status
	// ("PERMISSION_DENIED").
	Code string
	// Description is the error_description or message.
	Description string

	kinds []error
}

// Error describes the refused exchange without any token.
func (e *ExchangeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s answered HTTP %d", e.Endpoint, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	}
	for _, k := range e.kinds {
		if k != twostage.ErrNotFound && k != twostage.ErrInvalid {
			b.WriteString(": " + k.Error())
		}
	}
	return b.String()
}

// Unwrap returns the sentinels the answer matches.
func (e *ExchangeError) Unwrap() []error { return e.kinds }

// Temporary reports whether the answer is worth another try: HTTP 429,
// 502, 503 or 504.
func (e *ExchangeError) Temporary() bool {
	switch e.Status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// noRetry hides a temporary error from an outer retry loop whose inner
// call retried it already.
type noRetry struct{ error }

func (n noRetry) Unwrap() error   { return n.error }
func (n noRetry) Temporary() bool { return false }

// STS error descriptions this package recognises. Sources:
//   - invalid_target "The target service indicated by the \"audience\"
//     parameters is invalid. This might either be because the pool or
//     provider is disabled or deleted or because it doesn't exist."
//     (quoted in google-github-actions/auth issues #161, #334)
//   - invalid_request "Invalid value for \"audience\". This value should be
//     the full resource name of the Identity Provider. …" (auth issue #60)
//   - invalid_grant "The audience in JWT does not match the expected
//     values." (auth issue #29, 2021); "The audience in ID Token […] does
//     not match the expected audience …" (unverified)
//   - "The given credential is rejected by the attribute condition."
//     (unverified)
const (
	descConditionRejected = "rejected by the attribute condition"
	descInvalidTarget     = "invalid_target"
)

// mapExchangeError turns an externalaccount error into an *ExchangeError
// when it carries an STS or IAM Credentials answer, and redacts secrets.
func mapExchangeError(err error, impersonating bool, secrets []string) error {
	// The answer is the last "status code" in the message: with
	// impersonation, an STS failure is quoted inside the IAM Credentials
	// call's error ("unable to generate access token: Post …: oauth2/google:
	// status code 503: …").
	msg := strings.TrimSpace(err.Error())
	const prefix = "oauth2/google: status code "
	i := strings.LastIndex(msg, prefix)
	if i < 0 {
		return redactErr(err, secrets...)
	}
	rest, ok := msg[i+len(prefix):], true
	code, body, ok2 := strings.Cut(rest, ": ")
	status, convErr := strconv.Atoi(code)
	if !ok || !ok2 || convErr != nil {
		return redactErr(err, secrets...)
	}
	e := &ExchangeError{Endpoint: "sts", Status: status}
	var oauthErr struct {
		Error            json.RawMessage `json:"error"`
		ErrorDescription string          `json:"error_description"`
	}
	var apiErr struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	}
	if json.Unmarshal([]byte(body), &oauthErr) == nil && len(oauthErr.Error) > 0 {
		var code string
		if json.Unmarshal(oauthErr.Error, &code) == nil {
			e.Code, e.Description = code, oauthErr.ErrorDescription
		} else if json.Unmarshal(oauthErr.Error, &apiErr) == nil {
			e.Endpoint = "iamcredentials"
			e.Code, e.Description = apiErr.Status, apiErr.Message
		}
	} else {
		e.Description = snippet([]byte(body))
	}
	if e.Endpoint == "sts" && impersonating && e.Code == "" {
		e.Endpoint = "iamcredentials"
	}
	e.Description = redact(e.Description, secrets...)
	d := strings.ToLower(e.Description)
	switch {
	case strings.Contains(d, descConditionRejected):
		e.kinds = append(e.kinds, ErrConditionRejected)
	case e.Code == descInvalidTarget:
		e.kinds = append(e.kinds, ErrProviderNotFound, twostage.ErrNotFound)
	case strings.Contains(d, "audience") && strings.Contains(d, "does not match"):
		e.kinds = append(e.kinds, ErrAudienceMismatch)
	case e.Code == "invalid_request" && strings.Contains(d, "audience"):
		e.kinds = append(e.kinds, twostage.ErrInvalid)
	}
	if e.Endpoint == "iamcredentials" && status == http.StatusForbidden {
		e.Description += " (the federated principal needs roles/iam.workloadIdentityUser on the service account, and the IAM Credentials API must be enabled)"
	}
	return e
}

// redacted replaces secrets in messages.
const redacted = "[REDACTED]"

// redact replaces every secret, and anything shaped like a JWT
// ("eyJ…" base64url segments joined by dots), in s.
func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "eyJ")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := i
		dots := 0
		for j < len(s) && (isBase64URL(s[j]) || s[j] == '.') {
			if s[j] == '.' {
				dots++
			}
			j++
		}
		b.WriteString(s[:i])
		if dots >= 1 && j-i >= 16 {
			b.WriteString(redacted)
		} else {
			b.WriteString(s[i:j])
		}
		s = s[j:]
	}
}

func isBase64URL(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '='
}

// redactErr returns err when its message holds no secret, and otherwise an
// error with the redacted message whose Unwrap reaches only the errors of
// the chain whose own messages are clean (sentinels, context errors), so
// errors.Is keeps working and no wrapped error can print a secret.
func redactErr(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := redact(msg, secrets...)
	if clean == msg {
		return err
	}
	var safe []error
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if m := e.Error(); redact(m, secrets...) == m {
			safe = append(safe, e)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(errors.Unwrap(err))
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		for _, x := range u.Unwrap() {
			walk(x)
		}
	}
	return &redactedError{msg: clean, safe: safe}
}

type redactedError struct {
	msg  string
	safe []error
}

func (e *redactedError) Error() string   { return e.msg }
func (e *redactedError) Unwrap() []error { return e.safe }
