package wif

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twostage/twostage"
	"golang.org/x/oauth2/google/externalaccount"
)

// Environment variables GitHub Actions sets in a job granted
// `permissions: id-token: write` (GitHub, "About security hardening with
// OpenID Connect" / "Methods for requesting the OIDC token").
const (
	EnvRequestURL   = "ACTIONS_ID_TOKEN_REQUEST_URL"
	EnvRequestToken = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
)

// ErrNoIDToken reports that the job cannot get a GitHub OIDC token: the
// request URL or token is missing (the workflow or job lacks
// `permissions: id-token: write`, or the code does not run in GitHub
// Actions), or GitHub refused the request token.
var ErrNoIDToken = errors.New("no GitHub Actions OIDC token: grant the job `permissions: id-token: write` (and run it in GitHub Actions)")

// refreshMargin is how long before its exp a cached OIDC token is
// replaced, so that STS never receives a token that expires in flight.
const refreshMargin = time.Minute

// GitHubOIDC is an [externalaccount.SubjectTokenSupplier] that fetches the
// job's OIDC token from GitHub Actions: it GETs RequestURL with
// &audience=AUDIENCE and `Authorization: Bearer RequestToken`, and reads
// the JWT from the {"value": "..."} answer.
//
// Tokens are cached per audience until one minute before their exp claim
// (read from the payload without verifying it: STS verifies), so repeated
// exchanges make no new request to GitHub; concurrent callers that miss
// the cache wait for a single request. Create one with
// [FromGitHubActions] in a workflow, or fill the fields directly (tests,
// other runners). Set the fields before first use and do not change them
// afterwards; the methods are safe for concurrent use.
type GitHubOIDC struct {
	// RequestURL is $ACTIONS_ID_TOKEN_REQUEST_URL.
	RequestURL string
	// RequestToken is $ACTIONS_ID_TOKEN_REQUEST_TOKEN, the bearer token
	// of the request. It never appears in errors or logs.
	RequestToken string
	// Audience is the aud of the requested token. Empty means the
	// provider's default audience, derived from the STS audience the
	// external account passes in: "https:" + "//iam.googleapis.com/projects/…"
	// (see [Provider.DefaultTokenAudience]).
	Audience string
	// HTTPClient makes the request. Nil means http.DefaultClient.
	HTTPClient *http.Client
	// Clock decides when a cached token is stale. Nil means
	// twostage.SystemClock().
	Clock twostage.Clock
	// Logger receives debug records of fetches and cache hits (never a
	// token). Nil discards them.
	Logger *slog.Logger
	// Retry bounds the retries of a fetch that fails transiently (HTTP
	// 429, 502, 503, 504, or no answer), with backoff on Clock. The zero
	// value is [DefaultRetry].
	Retry twostage.Retry

	fetchMu sync.Mutex // held while fetching, so concurrent misses fetch once
	mu      sync.Mutex // guards cache
	cache   map[string]cachedToken
}

type cachedToken struct {
	jwt string
	exp time.Time // zero: do not reuse
}

var _ externalaccount.SubjectTokenSupplier = (*GitHubOIDC)(nil)

// FromGitHubActions returns a GitHubOIDC configured from the environment
// GitHub Actions sets ($ACTIONS_ID_TOKEN_REQUEST_URL and
// $ACTIONS_ID_TOKEN_REQUEST_TOKEN) for the given token audience (empty:
// the provider's default audience). It is the only function of the
// package that reads the environment. When either variable is missing the
// error matches [ErrNoIDToken] and says to grant the job
// `permissions: id-token: write`.
func FromGitHubActions(audience string, opts ...Option) (*GitHubOIDC, error) {
	return fromEnv(os.Getenv, audience, opts...)
}

// fromEnv is FromGitHubActions over an injectable lookup, for tests.
func fromEnv(getenv func(string) string, audience string, opts ...Option) (*GitHubOIDC, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	var missing []string
	reqURL, reqTok := getenv(EnvRequestURL), getenv(EnvRequestToken)
	if reqURL == "" {
		missing = append(missing, "$"+EnvRequestURL)
	}
	if reqTok == "" {
		missing = append(missing, "$"+EnvRequestToken)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("wif: %s not set: %w", strings.Join(missing, " and "), ErrNoIDToken)
	}
	return &GitHubOIDC{
		RequestURL:   reqURL,
		RequestToken: reqTok,
		Audience:     audience,
		HTTPClient:   o.httpClient,
		Clock:        o.clock,
		Logger:       o.logger,
		Retry:        o.retry,
	}, nil
}

// SubjectToken returns an OIDC token for g.Audience (or, when that is
// empty, for the default audience of the provider options.Audience
// names), from the cache while it has more than a minute left.
func (g *GitHubOIDC) SubjectToken(ctx context.Context, options externalaccount.SupplierOptions) (string, error) {
	aud := g.Audience
	if aud == "" {
		if !strings.HasPrefix(options.Audience, "//") {
			return "", fmt.Errorf("wif: requesting a GitHub OIDC token: no audience set and STS audience %q is not //iam.googleapis.com/…: %w", options.Audience, twostage.ErrInvalid)
		}
		aud = "https:" + options.Audience
	}
	return g.Token(ctx, aud)
}

// Token returns an OIDC token for audience, from the cache while it has
// more than a minute left, otherwise fetched from GitHub.
func (g *GitHubOIDC) Token(ctx context.Context, audience string) (string, error) {
	if jwt, ok := g.cached(ctx, audience); ok {
		return jwt, nil
	}
	g.fetchMu.Lock()
	defer g.fetchMu.Unlock()
	if jwt, ok := g.cached(ctx, audience); ok { // fetched while we waited
		return jwt, nil
	}
	var jwt string
	err := retry(ctx, g.clock(), g.Retry, func(ctx context.Context) error {
		var err error
		jwt, err = g.fetch(ctx, audience)
		return err
	})
	if err != nil {
		return "", err
	}
	exp, err := jwtExpiry(jwt)
	if err != nil {
		return "", err
	}
	g.mu.Lock()
	if g.cache == nil {
		g.cache = make(map[string]cachedToken)
	}
	g.cache[audience] = cachedToken{jwt: jwt, exp: exp}
	g.mu.Unlock()
	g.logger().DebugContext(ctx, "wif: fetched GitHub OIDC token", "audience", audience, "expires", exp)
	return jwt, nil
}

// cached returns the cached token for audience while it has more than
// refreshMargin left.
func (g *GitHubOIDC) cached(ctx context.Context, audience string) (string, bool) {
	now := g.clock().Now()
	g.mu.Lock()
	c, ok := g.cache[audience]
	g.mu.Unlock()
	if !ok || c.exp.IsZero() || !now.Before(c.exp.Add(-refreshMargin)) {
		return "", false
	}
	g.logger().DebugContext(ctx, "wif: reusing cached GitHub OIDC token", "audience", audience, "expires", c.exp)
	return c.jwt, true
}

func (g *GitHubOIDC) fetch(ctx context.Context, audience string) (string, error) {
	if g.RequestURL == "" || g.RequestToken == "" {
		return "", fmt.Errorf("wif: requesting a GitHub OIDC token: request URL or token is empty: %w", ErrNoIDToken)
	}
	u, err := url.Parse(g.RequestURL)
	if err != nil {
		return "", fmt.Errorf("wif: requesting a GitHub OIDC token: request URL: %w", redactErr(err, g.RequestToken))
	}
	q := u.Query()
	q.Set("audience", audience)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("wif: requesting a GitHub OIDC token: %w", redactErr(err, g.RequestToken))
	}
	req.Header.Set("Authorization", "Bearer "+g.RequestToken)
	req.Header.Set("Accept", "application/json")
	client := g.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		err = fmt.Errorf("wif: requesting a GitHub OIDC token from %s: %w", u.Host, redactErr(err, g.RequestToken))
		if ctx.Err() == nil {
			err = twostage.MarkTemporary(err) // no answer: worth another try
		}
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("wif: reading the GitHub OIDC token response: %w", redactErr(err, g.RequestToken))
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", fmt.Errorf("wif: GitHub refused the OIDC token request (HTTP %d: %s): %w", resp.StatusCode, redact(snippet(body), g.RequestToken), ErrNoIDToken)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return "", fmt.Errorf("wif: requesting a GitHub OIDC token: %w", &ExchangeError{Endpoint: "github", Status: resp.StatusCode, Description: redact(snippet(body), g.RequestToken)})
	}
	var v struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Value == "" {
		return "", fmt.Errorf("wif: the GitHub OIDC token response has no \"value\" (HTTP %d, %d bytes): %w", resp.StatusCode, len(body), twostage.ErrInvalid)
	}
	return v.Value, nil
}

func (g *GitHubOIDC) clock() twostage.Clock {
	if g.Clock == nil {
		return twostage.SystemClock()
	}
	return g.Clock
}

func (g *GitHubOIDC) logger() *slog.Logger {
	if g.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Logger
}

// DecodeClaims decodes the payload of a JWT without verifying its
// signature: use it to read claims of a token that a verifier (STS) will
// check, never to trust them. Errors never contain the token.
func DecodeClaims(jwt string) (Claims, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("wif: decoding a JWT: %d dot-separated parts, want 3: %w", len(parts), twostage.ErrInvalid)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("wif: decoding a JWT payload: not base64url: %w", twostage.ErrInvalid)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil || c == nil {
		return nil, fmt.Errorf("wif: decoding a JWT payload: not a JSON object: %w", twostage.ErrInvalid)
	}
	return c, nil
}

// jwtExpiry returns the exp of a JWT, or the zero time when it has none.
func jwtExpiry(jwt string) (time.Time, error) {
	c, err := DecodeClaims(jwt)
	if err != nil {
		return time.Time{}, fmt.Errorf("wif: the GitHub OIDC token: %w", err)
	}
	exp, ok := c["exp"].(float64)
	if !ok {
		return time.Time{}, nil
	}
	return time.Unix(int64(exp), 0), nil
}

// snippet returns at most 200 bytes of a response body for an error.
func snippet(b []byte) string {
	const max = 200
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
