package wif_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/stsfake"
	"github.com/twostage/twostage/wif"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google/externalaccount"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var (
	tsPool = wif.Pool{Project: "my-project", ProjectNumber: "123456789012", ID: "github"}
	tsRepo = wif.GitHubRepo{Owner: "octo-org", Name: "octo-repo", OwnerID: "65", ID: "74"}
)

// tsClaims are the claims of a push to main of tsRepo (GitHub's
// example token, "About security hardening with OpenID Connect"); edits
// replace claims.
func tsClaims(edits wif.Claims) wif.Claims {
	c := wif.Claims{
		"sub": "repo:octo-org/octo-repo:ref:refs/heads/main", "ref": "refs/heads/main", "ref_type": "branch",
		"sha": "0123456789abcdef0123456789abcdef01234567", "repository": "octo-org/octo-repo",
		"repository_owner": "octo-org", "repository_owner_id": "65", "repository_id": "74",
		"actor": "octocat", "actor_id": "12", "run_id": "1234567890", "run_number": "10", "run_attempt": "1",
		"workflow": "deploy", "workflow_ref": "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main",
		"event_name": "push",
	}
	for k, v := range edits {
		c[k] = v
	}
	return c
}

type tsEnv struct {
	srv      *stsfake.Server
	clk      *fake.Clock
	provider wif.Provider
	gh       *wif.GitHubOIDC
	logs     *tsLogBuffer
	logger   *slog.Logger
}

// tsLogBuffer is a bytes.Buffer safe for concurrent writes.
type tsLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *tsLogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *tsLogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTSEnv(t *testing.T) *tsEnv {
	t.Helper()
	clk := fake.NewClock(time.Now().Truncate(time.Second))
	logs := &tsLogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := stsfake.NewServer(stsfake.WithClock(clk), stsfake.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	prov := wif.GitHubProvider(tsPool, "github-actions", tsRepo)
	if err := srv.AddProvider(stsProvider(prov)); err != nil {
		t.Fatal(err)
	}
	srv.SetActionsClaims(tsClaims(nil))
	gh := &wif.GitHubOIDC{
		RequestURL:   srv.ActionsRequestURL(),
		RequestToken: srv.RequestToken(),
		HTTPClient:   srv.Client(),
		Clock:        clk,
		Logger:       logger,
	}
	return &tsEnv{srv: srv, clk: clk, provider: prov, gh: gh, logs: logs, logger: logger}
}

func (e *tsEnv) tokenSource(t *testing.T, supplier externalaccount.SubjectTokenSupplier, opts ...wif.Option) oauth2.TokenSource {
	t.Helper()
	opts = append([]wif.Option{
		wif.WithTokenURL(e.srv.TokenURL()), wif.WithHTTPClient(e.srv.Client()), wif.WithLogger(e.logger),
	}, opts...)
	ts, err := wif.TokenSource(context.Background(), e.provider, supplier, opts...)
	if err != nil {
		t.Fatalf("TokenSource: %v", err)
	}
	return ts
}

func TestTokenSourceEndToEnd(t *testing.T) {
	t.Parallel()
	e := newTSEnv(t)
	ts := e.tokenSource(t, e.gh)
	tok, err := ts.Token()
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if !tok.Valid() || tok.TokenType != "Bearer" {
		t.Errorf("Token() = type %q valid %v, want a valid Bearer token", tok.TokenType, tok.Valid())
	}
	id, ok := e.srv.Identity(tok.AccessToken)
	if !ok {
		t.Fatalf("the emulator does not know the access token")
	}
	want := stsfake.Identity{
		Principal: "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/subject/repo:74:run:1234567890:1",
		Provider:  e.provider.Name(),
		Pool:      "projects/123456789012/locations/global/workloadIdentityPools/github",
		Attributes: map[string]string{
			"google.subject": "repo:74:run:1234567890:1", "attribute.repository": "octo-org/octo-repo",
			"attribute.repository_id": "74", "attribute.repository_owner_id": "65", "attribute.ref": "refs/heads/main",
			"attribute.ref_type": "branch", "attribute.workflow_ref": "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main",
			"attribute.actor_id": "12", "attribute.event_name": "push",
		},
		Scopes: []string{wif.CloudPlatformScope},
		Expiry: e.clk.Now().Add(time.Hour),
	}
	if diff := cmp.Diff(want, id); diff != "" {
		t.Errorf("Identity mismatch (-want +got):\n%s", diff)
	}
	if !id.Matches(wif.RepositoryPrincipal(tsPool, tsRepo).String()) {
		t.Errorf("the identity is not in the repository's principal set")
	}
	if id.Matches(wif.AttributePrincipal(tsPool, "repository_id", "75").String()) {
		t.Errorf("the identity is in another repository's principal set")
	}
	// The access token is cached: no second exchange.
	if _, err := ts.Token(); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Count(stsfake.MethodToken); got != 1 {
		t.Errorf("STS requests = %d, want 1", got)
	}
}

func TestTokenSourceImpersonation(t *testing.T) {
	t.Parallel()
	const sa = "deployer@my-project.iam.gserviceaccount.com"
	e := newTSEnv(t)
	e.srv.AllowImpersonation(sa, wif.RepositoryPrincipal(tsPool, tsRepo).String())
	ts := e.tokenSource(t, e.gh, wif.WithImpersonation(sa), wif.WithIAMCredentialsURL(e.srv.IAMCredentialsURL()))
	tok, err := ts.Token()
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if got, ok := e.srv.Principal(tok.AccessToken); !ok || got != "serviceAccount:"+sa {
		t.Errorf("Principal = %q, %v; want serviceAccount:%s", got, ok, sa)
	}

	// Another service account is not granted.
	ts = e.tokenSource(t, e.gh, wif.WithImpersonation("other@my-project.iam.gserviceaccount.com"), wif.WithIAMCredentialsURL(e.srv.IAMCredentialsURL()))
	_, err = ts.Token()
	var xe *wif.ExchangeError
	if !errors.As(err, &xe) || xe.Endpoint != "iamcredentials" || xe.Status != http.StatusForbidden {
		t.Fatalf("Token() error = %v, want an iamcredentials 403 ExchangeError", err)
	}
	for _, s := range []string{"iam.serviceAccounts.getAccessToken", "roles/iam.workloadIdentityUser"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func TestTokenSourceFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(e *tsEnv) (wif.Provider, *wif.GitHubOIDC)
		is      []error
		mention []string
	}{{
		name: "token of another repository",
		setup: func(e *tsEnv) (wif.Provider, *wif.GitHubOIDC) {
			e.srv.SetActionsClaims(tsClaims(wif.Claims{"repository": "octo-org/other", "repository_id": "75"}))
			return e.provider, e.gh
		},
		is:      []error{wif.ErrConditionRejected},
		mention: []string{"unauthorized_client", "The given credential is rejected by the attribute condition.", "repository and owner IDs"},
	}, {
		name: "wrong audience",
		setup: func(e *tsEnv) (wif.Provider, *wif.GitHubOIDC) {
			e.gh.Audience = "https://github.com/octo-org"
			return e.provider, e.gh
		},
		is:      []error{wif.ErrAudienceMismatch},
		mention: []string{"invalid_grant", "does not match the expected audience", tsAud},
	}, {
		name: "provider not found",
		setup: func(e *tsEnv) (wif.Provider, *wif.GitHubOIDC) {
			p := e.provider
			p.ID = "missing-provider"
			return p, e.gh
		},
		is:      []error{wif.ErrProviderNotFound, twostage.ErrNotFound},
		mention: []string{"invalid_target", "pool or provider is disabled or deleted"},
	}, {
		name: "disabled pool",
		setup: func(e *tsEnv) (wif.Provider, *wif.GitHubOIDC) {
			p := e.provider
			p.Pool.Disabled = true
			if err := e.srv.AddProvider(stsProvider(p)); err != nil {
				panic(err)
			}
			return p, e.gh
		},
		is:      []error{wif.ErrProviderNotFound},
		mention: []string{"invalid_target"},
	}, {
		name: "wrong request token",
		setup: func(e *tsEnv) (wif.Provider, *wif.GitHubOIDC) {
			e.gh.RequestToken = "wrong-request-token"
			return e.provider, e.gh
		},
		is:      []error{wif.ErrNoIDToken},
		mention: []string{"HTTP 401", "id-token: write"},
	}, {
		name: "token from another issuer",
		setup: func(e *tsEnv) (wif.Provider, *wif.GitHubOIDC) {
			p := e.provider
			p.Issuer = "https://gitlab.example.com"
			if err := e.srv.AddProvider(stsProvider(p)); err != nil {
				panic(err)
			}
			return p, e.gh
		},
		mention: []string{"invalid_grant", "issuer"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTSEnv(t)
			p, gh := tt.setup(e)
			ts, err := wif.TokenSource(context.Background(), p, gh, wif.WithTokenURL(e.srv.TokenURL()), wif.WithHTTPClient(e.srv.Client()))
			if err != nil {
				t.Fatalf("TokenSource: %v", err)
			}
			tok, err := ts.Token()
			if err == nil {
				t.Fatalf("Token() = %v, want an error", tok)
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("Token() error = %v, want errors.Is %v", err, target)
				}
			}
			for _, s := range tt.mention {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Token() error = %q, want it to mention %q", err, s)
				}
			}
			if len(e.srv.Tokens()) != 0 {
				t.Errorf("the emulator issued tokens: %+v", e.srv.Tokens())
			}
		})
	}
}

// tsAud is the default token audience of the test provider.
var tsAud = wif.GitHubProvider(tsPool, "github-actions", tsRepo).DefaultTokenAudience()

func TestTokenSourceInvalidConfig(t *testing.T) {
	t.Parallel()
	gh := &wif.GitHubOIDC{RequestURL: "http://127.0.0.1:1/x?y=1", RequestToken: "t"}
	byID := wif.GitHubProvider(wif.Pool{Project: "my-project", ID: "github"}, "github-actions", tsRepo)
	tests := []struct {
		name     string
		p        wif.Provider
		supplier externalaccount.SubjectTokenSupplier
		opts     []wif.Option
		mention  string
	}{
		{"project ID instead of number", byID, gh, nil, `project "my-project" is not a project number`},
		{"nil supplier", wif.GitHubProvider(tsPool, "github-actions", tsRepo), nil, nil, "nil subject token supplier"},
		{"bad impersonation", wif.GitHubProvider(tsPool, "github-actions", tsRepo), gh, []wif.Option{wif.WithImpersonation("deployer")}, "not a service account email"},
		{"empty token URL", wif.GitHubProvider(tsPool, "github-actions", tsRepo), gh, []wif.Option{wif.WithTokenURL("")}, "empty URL"},
		{"no scopes", wif.GitHubProvider(tsPool, "github-actions", tsRepo), gh, []wif.Option{wif.WithScopes()}, "no scopes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := wif.TokenSource(context.Background(), tt.p, tt.supplier, tt.opts...)
			if !errors.Is(err, twostage.ErrInvalid) || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("TokenSource error = %v, want ErrInvalid mentioning %q", err, tt.mention)
			}
		})
	}
}

// TestFromGitHubActionsMissingEnv cannot run in parallel: it sets the
// environment.
func TestFromGitHubActionsMissingEnv(t *testing.T) {
	tests := []struct {
		name, url, token, mention string
	}{
		{"both missing", "", "", "$ACTIONS_ID_TOKEN_REQUEST_URL and $ACTIONS_ID_TOKEN_REQUEST_TOKEN not set"},
		{"token missing", "https://example.invalid/x?api-version=2.0", "", "$ACTIONS_ID_TOKEN_REQUEST_TOKEN not set"},
		{"URL missing", "", "secret-request-token", "$ACTIONS_ID_TOKEN_REQUEST_URL not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(wif.EnvRequestURL, tt.url)
			t.Setenv(wif.EnvRequestToken, tt.token)
			_, err := wif.FromGitHubActions("")
			if !errors.Is(err, wif.ErrNoIDToken) {
				t.Fatalf("FromGitHubActions error = %v, want ErrNoIDToken", err)
			}
			for _, s := range []string{tt.mention, "permissions: id-token: write"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Errorf("error %q contains the request token", err)
			}
		})
	}
	t.Run("set", func(t *testing.T) {
		e := newTSEnv(t)
		t.Setenv(wif.EnvRequestURL, e.srv.ActionsRequestURL())
		t.Setenv(wif.EnvRequestToken, e.srv.RequestToken())
		gh, err := wif.FromGitHubActions("", wif.WithHTTPClient(e.srv.Client()), wif.WithClock(e.clk))
		if err != nil {
			t.Fatalf("FromGitHubActions: %v", err)
		}
		tok, err := e.tokenSource(t, gh).Token()
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		if _, ok := e.srv.Principal(tok.AccessToken); !ok {
			t.Errorf("the emulator does not know the access token")
		}
	})
}

func TestGitHubOIDCCaching(t *testing.T) {
	t.Parallel()
	e := newTSEnv(t)
	ctx := context.Background()
	opts := externalaccount.SupplierOptions{Audience: e.provider.Audience(), SubjectTokenType: wif.SubjectTokenTypeJWT}
	first, err := e.gh.SubjectToken(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := wif.DecodeClaims(first)
	if err != nil {
		t.Fatal(err)
	}
	if got := claims.String("aud"); got != tsAud {
		t.Errorf("token aud = %q, want the provider's default audience %q", got, tsAud)
	}
	steps := []struct {
		advance  time.Duration
		requests int
		same     bool
	}{
		{0, 1, true}, // at once: cached
		{3*time.Minute + 59*time.Second, 1, true}, // 61 s before exp: cached
		{2 * time.Second, 2, false},               // 59 s before exp: refetched
		{time.Second, 2, true},                    // the new one is cached
	}
	cur := first
	for i, s := range steps {
		e.clk.Advance(s.advance)
		got, err := e.gh.SubjectToken(ctx, opts)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if n := e.srv.Count(stsfake.MethodActions); n != s.requests {
			t.Errorf("step %d: Actions requests = %d, want %d", i, n, s.requests)
		}
		if (got == cur) != s.same {
			t.Errorf("step %d: same token = %v, want %v", i, got == cur, s.same)
		}
		cur = got
	}
	// A second token source sharing the supplier exchanges again at STS
	// but asks GitHub for nothing new.
	before := e.srv.Count(stsfake.MethodActions)
	if _, err := e.tokenSource(t, e.gh).Token(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tokenSource(t, e.gh).Token(); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Count(stsfake.MethodActions); got != before {
		t.Errorf("Actions requests = %d after two token sources, want %d", got, before)
	}
	if got := e.srv.Count(stsfake.MethodToken); got != 2 {
		t.Errorf("STS requests = %d, want 2", got)
	}
}

func TestGitHubOIDCConcurrent(t *testing.T) {
	t.Parallel()
	e := newTSEnv(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			if _, err := e.gh.Token(context.Background(), "aud-1"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.srv.Count(stsfake.MethodActions); n != 1 {
		t.Errorf("Actions requests = %d for 8 concurrent callers, want 1", n)
	}
}

// TestNoTokenInErrorsOrLogs runs succeeding and failing flows with debug
// logging on, and checks that no JWT, request token or access token shows
// in an error or a log record.
func TestNoTokenInErrorsOrLogs(t *testing.T) {
	t.Parallel()
	e := newTSEnv(t)
	var errs []string
	var secrets []string
	secrets = append(secrets, e.srv.RequestToken())

	tok, err := e.tokenSource(t, e.gh).Token()
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, tok.AccessToken)
	jwt, err := e.gh.Token(context.Background(), tsAud) // cached: the one STS saw
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, jwt)

	// Failing flows: condition, audience, request token.
	e.srv.SetActionsClaims(tsClaims(wif.Claims{"repository_id": "75"}))
	other := &wif.GitHubOIDC{RequestURL: e.gh.RequestURL, RequestToken: e.gh.RequestToken, HTTPClient: e.srv.Client(), Clock: e.clk, Logger: e.logger}
	_, err = e.tokenSource(t, other).Token()
	errs = append(errs, fmt.Sprint(err))
	j2, _ := other.Token(context.Background(), tsAud)
	secrets = append(secrets, j2)

	aud := &wif.GitHubOIDC{RequestURL: e.gh.RequestURL, RequestToken: e.gh.RequestToken, HTTPClient: e.srv.Client(), Clock: e.clk, Logger: e.logger, Audience: "https://elsewhere.example"}
	_, err = e.tokenSource(t, aud).Token()
	errs = append(errs, fmt.Sprint(err))
	j3, _ := aud.Token(context.Background(), "https://elsewhere.example")
	secrets = append(secrets, j3)

	bad := &wif.GitHubOIDC{RequestURL: e.gh.RequestURL, RequestToken: "ghs-wrong-" + e.srv.RequestToken(), HTTPClient: e.srv.Client(), Logger: e.logger}
	_, err = e.tokenSource(t, bad).Token()
	errs = append(errs, fmt.Sprint(err))
	secrets = append(secrets, bad.RequestToken)

	for _, s := range secrets {
		if s == "" {
			t.Fatal("a secret to look for is empty")
		}
	}
	for i, msg := range errs {
		if msg == "<nil>" {
			t.Errorf("failing flow %d did not fail", i)
		}
		for _, s := range secrets {
			if strings.Contains(msg, s) {
				t.Errorf("error %d contains a token: %s", i, msg)
			}
		}
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "wif: got a Google access token") || !strings.Contains(logs, "wif: token exchange failed") {
		t.Errorf("the logs miss the exchange records:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the logs contain a token:\n%s", logs)
		}
	}
}

// TestRedactsEchoingServers checks the redaction itself: an STS and a
// GitHub endpoint that echo the secrets they receive in their error
// answers.
func TestRedactsEchoingServers(t *testing.T) {
	t.Parallel()
	e := newTSEnv(t)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet: // GitHub: echo the bearer
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, `{"message": "bad %s"}`, r.Header.Get("Authorization"))
		default: // STS: echo the subject token
			_ = r.ParseForm()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":"invalid_grant","error_description":"bad subject token %s"}`, r.PostForm.Get("subject_token"))
		}
	}))
	t.Cleanup(echo.Close)

	ts := e.tokenSource(t, e.gh, wif.WithTokenURL(echo.URL))
	_, err := ts.Token()
	if err == nil {
		t.Fatal("Token() succeeded against an echoing STS")
	}
	jwt, _ := e.gh.Token(context.Background(), tsAud)
	var xe *wif.ExchangeError
	if !errors.As(err, &xe) || !strings.Contains(xe.Description, "[REDACTED]") {
		t.Errorf("Token() error = %v, want a redacted ExchangeError", err)
	}
	if jwt == "" || strings.Contains(err.Error(), jwt) {
		t.Errorf("the error contains the subject token: %v", err)
	}

	gh := &wif.GitHubOIDC{RequestURL: echo.URL + "/?api-version=2.0", RequestToken: "request-token-secret-1234"}
	_, err = gh.Token(context.Background(), "aud")
	if err == nil || strings.Contains(err.Error(), "request-token-secret-1234") || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("GitHubOIDC.Token() error = %v, want an HTTP 500 error without the request token", err)
	}
}

func TestDecodeClaims(t *testing.T) {
	t.Parallel()
	e := newTSEnv(t)
	jwt := e.srv.IssueToken(wif.Claims{"sub": "s", "n": 3}, time.Minute)
	c, err := wif.DecodeClaims(jwt)
	if err != nil {
		t.Fatal(err)
	}
	want := wif.Claims{"sub": "s", "n": float64(3), "iss": wif.GitHubIssuer, "iat": float64(e.clk.Now().Unix()),
		"nbf": float64(e.clk.Now().Unix()), "exp": float64(e.clk.Now().Add(time.Minute).Unix()), "jti": c["jti"]}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("DecodeClaims mismatch (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "a.b", "a.!!!.c", "a." + "bm90IGpzb24" + ".c", jwt + ".x"} {
		if _, err := wif.DecodeClaims(bad); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("DecodeClaims(%q) error = %v, want ErrInvalid", bad, err)
		}
	}
}

func FuzzDecodeClaims(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzIn0.c2ln")
	f.Add("a.e30.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := wif.DecodeClaims(s)
		if err != nil {
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Fatalf("DecodeClaims(%q) error %v is not ErrInvalid", s, err)
			}
			if len(s) > 20 && strings.Contains(err.Error(), s) {
				t.Fatalf("DecodeClaims error quotes the token: %v", err)
			}
			return
		}
		if c == nil {
			t.Fatalf("DecodeClaims(%q) = nil claims without an error", s)
		}
	})
}

// stsProvider is the provider as the STS emulator takes it (stsfake
// imports nothing of package wif).
func stsProvider(p wif.Provider) stsfake.Provider {
	return stsfake.Provider{
		Name: p.Name(), IssuerURI: p.IssuerURI(), AllowedAudiences: p.AllowedAudiences,
		AttributeMapping: p.AttributeMapping, AttributeCondition: p.AttributeCondition, Disabled: p.Pool.Disabled,
	}
}

// TestTokenSourceRetriesBlips: a transient answer (HTTP 503, 429, 504) of
// GitHub's token endpoint, STS or IAM Credentials is retried with backoff on
// the injected clock, a 500 or a refusal is not, and an outage gives up
// after the attempts of WithRetry with the last answer in the error.
// Before, a single 503 of any of the three failed the deploy.
func TestTokenSourceRetriesBlips(t *testing.T) {
	t.Parallel()
	const sa = "deployer@my-project.iam.gserviceaccount.com"
	unavailable := status.Error(codes.Unavailable, "blip")
	for _, tc := range []struct {
		name    string
		method  string
		err     error
		times   int
		wantErr bool
		calls   int // calls of method
	}{
		{"github 503 once", stsfake.MethodActions, unavailable, 1, false, 2},
		{"sts 503 twice", stsfake.MethodToken, unavailable, 2, false, 3},
		{"sts 429 once", stsfake.MethodToken, status.Error(codes.ResourceExhausted, "quota"), 1, false, 2},
		{"iamcredentials 504 once", stsfake.MethodGenerateAccessToken, status.Error(codes.DeadlineExceeded, "slow"), 1, false, 2},
		{"sts 500 is not retried", stsfake.MethodToken, status.Error(codes.Internal, "bug"), 1, true, 1},
		{"sts outage gives up", stsfake.MethodToken, unavailable, -1, true, 3},
		{"github outage gives up", stsfake.MethodActions, unavailable, -1, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTSEnv(t)
			e.srv.AllowImpersonation(sa, wif.RepositoryPrincipal(tsPool, tsRepo).String())
			e.srv.InjectError(tc.method, tc.err, tc.times)
			ts := e.tokenSource(t, e.gh, wif.WithImpersonation(sa), wif.WithIAMCredentialsURL(e.srv.IAMCredentialsURL()),
				wif.WithClock(e.clk), wif.WithRetry(twostage.Retry{Attempts: 3}))
			e.gh.Retry = twostage.Retry{Attempts: 3}
			slept := e.clk.Slept()
			tok, err := ts.Token()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Token() = %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				if id, ok := e.srv.Identity(tok.AccessToken); !ok || id.ServiceAccount != sa {
					t.Errorf("the token is not the impersonated %s: %+v", sa, id)
				}
			} else {
				var xe *wif.ExchangeError
				if !errors.As(err, &xe) || xe.Status == 0 {
					t.Errorf("Token() error %v: want an *ExchangeError with the last answer's status", err)
				}
			}
			if got := e.srv.Count(tc.method); got != tc.calls {
				t.Errorf("%s called %d times, want %d", tc.method, got, tc.calls)
			}
			if tc.calls > 1 && e.clk.Slept() == slept {
				t.Errorf("retried without waiting on the clock")
			}
		})
	}
}
