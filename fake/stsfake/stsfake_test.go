package stsfake_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/emulation"
	"github.com/twostage/twostage/fake/stsfake"
	"github.com/twostage/twostage/wif"
	"google.golang.org/grpc/codes"
)

var (
	pool = wif.Pool{ProjectNumber: "123456789012", ID: "github"}
	repo = wif.GitHubRepo{Owner: "octo-org", Name: "octo-repo", OwnerID: "65", ID: "74"}
)

func claims() wif.Claims {
	return wif.Claims{
		"sub": "repo:octo-org/octo-repo:ref:refs/heads/main", "repository": "octo-org/octo-repo",
		"repository_id": "74", "repository_owner_id": "65", "ref": "refs/heads/main", "ref_type": "branch",
		"workflow_ref": "octo-org/octo-repo/.github/workflows/d.yml@refs/heads/main", "actor_id": "1",
		"event_name": "push", "run_id": "5", "run_attempt": "1",
	}
}

func newServer(t *testing.T) (*stsfake.Server, *fake.Clock, wif.Provider) {
	t.Helper()
	clk := fake.NewClock(time.Time{})
	srv, err := stsfake.NewServer(stsfake.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	p := wif.GitHubProvider(pool, "github-actions", repo)
	if err := srv.AddProvider(stsProvider(p)); err != nil {
		t.Fatal(err)
	}
	return srv, clk, p
}

func getJSON(t *testing.T, c *http.Client, u string, header http.Header) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, v
}

func postForm(t *testing.T, srv *stsfake.Server, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := srv.Client().PostForm(srv.TokenURL(), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, v
}

// TestDiscoveryAndJWKS verifies an issued token with the published key,
// as STS does with a real issuer.
func TestDiscoveryAndJWKS(t *testing.T) {
	t.Parallel()
	srv, _, _ := newServer(t)
	code, disc := getJSON(t, srv.Client(), srv.DiscoveryURL(), nil)
	if code != http.StatusOK || disc["issuer"] != wif.GitHubIssuer {
		t.Fatalf("discovery = %d %v", code, disc)
	}
	code, jwks := getJSON(t, srv.Client(), disc["jwks_uri"].(string), nil)
	if code != http.StatusOK {
		t.Fatalf("jwks = %d %v", code, jwks)
	}
	key := jwks["keys"].([]any)[0].(map[string]any)
	n, _ := base64.RawURLEncoding.DecodeString(key["n"].(string))
	e, _ := base64.RawURLEncoding.DecodeString(key["e"].(string))
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}

	jwt := srv.IssueToken(wif.Claims{"sub": "x"}, time.Minute)
	parts := strings.Split(jwt, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("the JWKS key does not verify an issued token: %v", err)
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h map[string]string
	_ = json.Unmarshal(hdr, &h)
	if h["kid"] != key["kid"] || h["alg"] != "RS256" {
		t.Errorf("header %v does not name the JWKS key %v", h, key["kid"])
	}
}

func TestActionsEndpoint(t *testing.T) {
	t.Parallel()
	srv, clk, _ := newServer(t)
	auth := http.Header{"Authorization": {"Bearer " + srv.RequestToken()}}
	u := srv.ActionsRequestURL() + "&audience=" + url.QueryEscape("my-aud")

	if code, _ := getJSON(t, srv.Client(), u, auth); code != http.StatusNotFound {
		t.Errorf("without claims: HTTP %d, want 404", code)
	}
	srv.SetActionsClaims(claims())
	if code, _ := getJSON(t, srv.Client(), u, http.Header{"Authorization": {"Bearer nope"}}); code != http.StatusUnauthorized {
		t.Errorf("wrong bearer: HTTP %d, want 401", code)
	}
	code, v := getJSON(t, srv.Client(), u, auth)
	if code != http.StatusOK {
		t.Fatalf("HTTP %d %v", code, v)
	}
	c, err := wif.DecodeClaims(v["value"].(string))
	if err != nil {
		t.Fatal(err)
	}
	now := clk.Now()
	want := claims()
	for k, x := range map[string]any{"aud": "my-aud", "iss": wif.GitHubIssuer, "iat": float64(now.Unix()), "nbf": float64(now.Unix()),
		"exp": float64(now.Add(stsfake.ActionsTokenLifetime).Unix()), "jti": c["jti"]} {
		want[k] = x
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("token claims mismatch (-want +got):\n%s", diff)
	}
	issued := 0 // tokens issued: answered requests of the Actions endpoint
	for _, r := range srv.Requests() {
		if r.Method == stsfake.MethodActions && r.Code == codes.OK {
			issued++
		}
	}
	if issued != 1 {
		t.Errorf("Actions tokens issued = %d, want 1", issued)
	}
}

func TestSTSErrors(t *testing.T) {
	t.Parallel()
	srv, clk, p := newServer(t)
	good := func() url.Values {
		c := claims()
		c["aud"] = p.DefaultTokenAudience()
		return url.Values{
			"grant_type":           {stsfake.GrantTypeTokenExchange},
			"audience":             {p.Audience()},
			"scope":                {wif.CloudPlatformScope},
			"requested_token_type": {stsfake.TokenTypeAccessToken},
			"subject_token_type":   {stsfake.TokenTypeJWT},
			"subject_token":        {srv.IssueToken(c, 5*time.Minute)},
		}
	}
	other, err := stsfake.NewServer(stsfake.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })

	tests := []struct {
		name     string
		edit     func(url.Values)
		advance  time.Duration
		code     string
		describe string
	}{
		{"ok", func(url.Values) {}, 0, "", ""},
		{"grant type", func(f url.Values) { f.Set("grant_type", "client_credentials") }, 0, "unsupported_grant_type", "client_credentials"},
		{"requested token type", func(f url.Values) { f.Set("requested_token_type", "x") }, 0, "invalid_request", "requested_token_type"},
		{"subject token type", func(f url.Values) { f.Set("subject_token_type", "urn:ietf:params:oauth:token-type:saml2") }, 0, "invalid_request", "subject_token_type"},
		{"no scope", func(f url.Values) { f.Del("scope") }, 0, "invalid_scope", "scope"},
		{"audience is a pool", func(f url.Values) { f.Set("audience", "//iam.googleapis.com/"+pool.Name()) }, 0, "invalid_request", `Invalid value for "audience"`},
		{"audience without prefix", func(f url.Values) { f.Set("audience", p.Name()) }, 0, "invalid_request", `Invalid value for "audience"`},
		{"unknown provider", func(f url.Values) { f.Set("audience", "//iam.googleapis.com/"+pool.Name()+"/providers/other") }, 0, "invalid_target", "doesn't exist"},
		{"not a JWT", func(f url.Values) { f.Set("subject_token", "abc") }, 0, "invalid_grant", "not a JWT"},
		{"signed by another key", func(f url.Values) {
			c := claims()
			c["aud"] = p.DefaultTokenAudience()
			f.Set("subject_token", other.IssueToken(c, time.Minute))
		}, 0, "invalid_grant", "invalid JWT signature"},
		{"expired", func(url.Values) {}, 5 * time.Minute, "invalid_grant", "expired"},
		{"wrong audience", func(f url.Values) {
			c := claims()
			c["aud"] = "https://github.com/octo-org"
			f.Set("subject_token", srv.IssueToken(c, time.Minute))
		}, 0, "invalid_grant", "The audience in ID Token [https://github.com/octo-org] does not match the expected audience " + p.DefaultTokenAudience()},
		{"audience without https is also a default", func(f url.Values) {
			c := claims()
			c["aud"] = []any{"x", p.Audience()}
			f.Set("subject_token", srv.IssueToken(c, time.Minute))
		}, 0, "", ""},
		{"condition", func(f url.Values) {
			c := claims()
			c["aud"] = p.DefaultTokenAudience()
			c["repository_id"] = "75"
			f.Set("subject_token", srv.IssueToken(c, time.Minute))
		}, 0, "unauthorized_client", "The given credential is rejected by the attribute condition."},
		{"missing claim", func(f url.Values) {
			c := claims()
			c["aud"] = p.DefaultTokenAudience()
			delete(c, "run_id")
			f.Set("subject_token", srv.IssueToken(c, time.Minute))
		}, 0, "invalid_grant", "no such key: run_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: some cases move the shared clock.
			f := good()
			tt.edit(f)
			clk.Advance(tt.advance)
			defer clk.Advance(-tt.advance)
			code, v := postForm(t, srv, f)
			if tt.code == "" {
				if code != http.StatusOK || v["token_type"] != "Bearer" || v["issued_token_type"] != stsfake.TokenTypeAccessToken || v["expires_in"] != float64(3600) {
					t.Fatalf("HTTP %d %v, want an access token", code, v)
				}
				if _, ok := srv.Principal(v["access_token"].(string)); !ok {
					t.Errorf("Principal does not know the issued token")
				}
				return
			}
			if code != http.StatusBadRequest || v["error"] != tt.code || !strings.Contains(v["error_description"].(string), tt.describe) {
				t.Errorf("HTTP %d %v, want 400 %s mentioning %q", code, v, tt.code, tt.describe)
			}
		})
	}
}

func TestIdentityExpiresAndImpersonation(t *testing.T) {
	t.Parallel()
	srv, clk, p := newServer(t)
	c := claims()
	c["aud"] = p.DefaultTokenAudience()
	code, v := postForm(t, srv, url.Values{
		"grant_type": {stsfake.GrantTypeTokenExchange}, "audience": {p.Audience()}, "scope": {wif.CloudPlatformScope},
		"requested_token_type": {stsfake.TokenTypeAccessToken}, "subject_token_type": {stsfake.TokenTypeJWT},
		"subject_token": {srv.IssueToken(c, time.Minute)},
	})
	if code != http.StatusOK {
		t.Fatalf("HTTP %d %v", code, v)
	}
	tok := v["access_token"].(string)
	sa := "deployer@p.iam.gserviceaccount.com"
	gen := func(bearer string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, srv.IAMCredentialsURL()+"/v1/projects/-/serviceAccounts/"+sa+":generateAccessToken",
			strings.NewReader(`{"scope":["`+wif.CloudPlatformScope+`"],"lifetime":"600s"}`))
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, v := gen("unknown"); code != http.StatusUnauthorized {
		t.Errorf("unknown bearer: HTTP %d %v, want 401", code, v)
	}
	if code, v := gen(tok); code != http.StatusForbidden {
		t.Errorf("not allowed: HTTP %d %v, want 403", code, v)
	}
	srv.AllowImpersonation(sa, wif.AttributePrincipal(pool, "repository_owner_id", "65").String())
	code, out := gen(tok)
	if code != http.StatusOK {
		t.Fatalf("allowed: HTTP %d %v", code, out)
	}
	if want := clk.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339); out["expireTime"] != want {
		t.Errorf("expireTime = %v, want %s", out["expireTime"], want)
	}
	if got, _ := srv.Principal(out["accessToken"].(string)); got != "serviceAccount:"+sa {
		t.Errorf("Principal = %q", got)
	}
	if n := len(srv.Tokens()); n != 2 {
		t.Errorf("Tokens() has %d entries, want 2", n)
	}
	clk.Advance(time.Hour)
	if _, ok := srv.Identity(tok); ok {
		t.Errorf("the access token is still accepted after an hour")
	}
}

func TestUnknownPath(t *testing.T) {
	t.Parallel()
	srv, _, _ := newServer(t)
	code, v := getJSON(t, srv.Client(), srv.URL()+"/v1/introspect", nil)
	if code != http.StatusNotFound || !strings.Contains(v["error"].(map[string]any)["message"].(string), "not emulated") {
		t.Errorf("HTTP %d %v, want 404 not emulated", code, v)
	}
}

func TestAddProviderNeedsNumber(t *testing.T) {
	t.Parallel()
	srv, _, _ := newServer(t)
	p := wif.GitHubProvider(wif.Pool{Project: "my-project", ID: "github"}, "github-actions", repo)
	if err := srv.AddProvider(stsProvider(p)); err == nil || !strings.Contains(err.Error(), "not a project number") {
		t.Errorf("AddProvider = %v, want a project-number error", err)
	}
}

func TestErrorInjection(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]int{}
	srv, err := stsfake.NewServer(stsfake.WithErrorInjection(func(e string, _ any) error {
		mu.Lock()
		defer mu.Unlock()
		seen[e]++
		if e == stsfake.MethodToken && seen[e] == 1 {
			return &emulation.HTTPError{Status: http.StatusServiceUnavailable, Body: map[string]string{"error": "temporarily_unavailable"}}
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	p := wif.GitHubProvider(pool, "github-actions", repo)
	if err := srv.AddProvider(stsProvider(p)); err != nil {
		t.Fatal(err)
	}
	srv.SetActionsClaims(claims())
	gh := &wif.GitHubOIDC{RequestURL: srv.ActionsRequestURL(), RequestToken: srv.RequestToken(), HTTPClient: srv.Client()}
	// No retries (wif retries a 503 by default), so the injected answer
	// itself reaches the caller.
	ts, err := wif.TokenSource(context.Background(), p, gh, wif.WithTokenURL(srv.TokenURL()), wif.WithHTTPClient(srv.Client()),
		wif.WithRetry(twostage.Retry{Attempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.Token()
	var xe *wif.ExchangeError
	if !errors.As(err, &xe) || xe.Status != http.StatusServiceUnavailable || xe.Code != "temporarily_unavailable" {
		t.Fatalf("first Token() = %v, want the injected 503", err)
	}
	if _, err := ts.Token(); err != nil {
		t.Fatalf("second Token() = %v, want success", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(map[string]int{stsfake.MethodActions: 1, stsfake.MethodToken: 2}, seen); diff != "" {
		t.Errorf("endpoints seen mismatch (-want +got):\n%s", diff)
	}
}

// BenchmarkExchange measures one STS token exchange over loopback HTTP,
// signature check and CEL evaluation included.
func BenchmarkExchange(b *testing.B) {
	srv, err := stsfake.NewServer()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	p := wif.GitHubProvider(pool, "github-actions", repo)
	if err := srv.AddProvider(stsProvider(p)); err != nil {
		b.Fatal(err)
	}
	c := claims()
	c["aud"] = p.DefaultTokenAudience()
	form := url.Values{
		"grant_type": {stsfake.GrantTypeTokenExchange}, "audience": {p.Audience()}, "scope": {wif.CloudPlatformScope},
		"requested_token_type": {stsfake.TokenTypeAccessToken}, "subject_token_type": {stsfake.TokenTypeJWT},
		"subject_token": {srv.IssueToken(c, time.Hour)},
	}
	client := srv.Client()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.PostForm(srv.TokenURL(), form)
		if err != nil {
			b.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("HTTP %d", resp.StatusCode)
		}
	}
}
