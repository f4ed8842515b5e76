package reliability

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/stsfake"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
)

// deployerSA is the service account the keyless flow impersonates.
const deployerSA = "deployer@my-proj.iam.gserviceaccount.com"

// keylessFlow is the keyless exchange of a dev deploy in GitHub Actions,
// as the CLI makes it (wif.TokenSource over wif.GitHubOIDC): the job's
// OIDC token from the Actions endpoint, the STS exchange through the
// provider of provision.GitHubSetup, and the impersonation of the deployer
// service account at IAM Credentials — all three on the STS emulator,
// behind the injector.
type keylessFlow struct {
	sts      *stsfake.Server
	hs       *httptest.Server
	in       *injector
	chk      *Checker
	clk      *fake.Clock
	wif      provision.Setup
	identity stsfake.Identity // of the last token a run returned
}

var _ flowEnv = (*keylessFlow)(nil)

func newKeylessFlow(t testing.TB) flowEnv {
	t.Helper()
	f := &keylessFlow{in: &injector{}, chk: &Checker{}, clk: fake.NewClock(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))}
	repo := wif.GitHubRepo{Owner: "octo-org", Name: "app", OwnerID: "1000001", ID: "5000005"}
	var err error
	f.wif, err = provision.GitHubSetup(provision.GitHubConfig{
		Project: wifProject, ProjectNumber: wifNumber, Repo: repo,
		Region: "europe-west1", Repository: "images", DevService: "app-dev", ProdService: "app",
		RuntimeServiceAccount: runtimeSA,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.sts, err = stsfake.NewServer(stsfake.WithoutListener(), stsfake.WithClock(f.clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.sts.Close() })
	p := f.wif.Provider
	if err := f.sts.AddProvider(stsfake.Provider{
		Name: p.Name(), IssuerURI: p.IssuerURI(), AllowedAudiences: p.AllowedAudiences,
		AttributeMapping: p.AttributeMapping, AttributeCondition: p.AttributeCondition,
	}); err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{}
	for k, v := range wif.GitHubClaims(repo, "push", "refs/heads/main") {
		claims[k] = v
	}
	f.sts.SetActionsClaims(claims)
	// The dev identity may act as the deployer (roles/iam.workloadIdentityUser).
	f.sts.AllowImpersonation(deployerSA, wif.AttributePrincipal(f.wif.Pool, provision.StageAttribute, provision.IdentityDev).String())
	f.hs = httptest.NewServer(f.in.handler(f.sts.Handler()))
	t.Cleanup(f.hs.Close)
	f.in.setAfter(f.checkAll)
	return f
}

func (f *keylessFlow) injector() *injector         { return f.in }
func (f *keylessFlow) checker() *Checker           { return f.chk }
func (f *keylessFlow) setup(context.Context) error { return nil }
func (f *keylessFlow) begin()                      { f.in.reset() }
func (f *keylessFlow) calls() []string             { return f.in.calls() }
func (f *keylessFlow) converged(context.Context) error {
	return nil
}

// run is a new job's exchange: a fresh supplier and token source, as each
// CLI run makes (ctx is the token source's, so a crash cancels the
// exchange).
func (f *keylessFlow) run(ctx context.Context) error {
	gh := &wif.GitHubOIDC{
		RequestURL: f.hs.URL + "/actions/token?api-version=2.0", RequestToken: f.sts.RequestToken(),
		Audience: f.wif.Provider.DefaultTokenAudience(), HTTPClient: f.hs.Client(), Clock: f.clk,
	}
	ts, err := wif.TokenSource(ctx, f.wif.Provider, gh,
		wif.WithTokenURL(f.hs.URL+"/v1/token"), wif.WithIAMCredentialsURL(f.hs.URL), wif.WithImpersonation(deployerSA),
		wif.WithHTTPClient(f.hs.Client()), wif.WithClock(f.clk))
	if err != nil {
		return err
	}
	tok, err := ts.Token()
	if err != nil {
		return err
	}
	id, ok := f.sts.Identity(tok.AccessToken)
	if !ok {
		return fmt.Errorf("the access token the exchange returned is unknown to the emulator")
	}
	f.identity = id
	return nil
}

// keylessState is what the exchange converges to: who the token is.
type keylessState struct {
	ServiceAccount string
	Pool           string
	Scopes         []string
}

func (f *keylessFlow) state() any {
	return keylessState{ServiceAccount: f.identity.ServiceAccount, Pool: f.identity.Pool, Scopes: slices.Sorted(slices.Values(f.identity.Scopes))}
}

// checkAll: every token the emulator has issued, after every call, is the
// dev identity of the setup's pool or the deployer it may impersonate —
// never another principal, whatever failed.
func (f *keylessFlow) checkAll() {
	pool := f.wif.Pool.Name()
	for _, id := range f.sts.Tokens() {
		switch {
		case id.ServiceAccount != "":
			f.chk.Expect(id.ServiceAccount == deployerSA, "a token was issued for service account %s, want only %s", id.ServiceAccount, deployerSA)
		default:
			f.chk.Expect(id.Pool == pool && id.Attributes["attribute."+provision.StageAttribute] == provision.IdentityDev,
				"a federated token was issued for %s (pool %s, stage %q), want only the dev identity of %s",
				id.Principal, id.Pool, id.Attributes["attribute."+provision.StageAttribute], pool)
		}
	}
}
