package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twostage/twostage/fake/stsfake"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage/examples/twostage/internal/config"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/emulators"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
)

// TestKeylessAuthWithEmulators is keyless auth end to end: a GitHub
// Actions job (ACTIONS_ID_TOKEN_REQUEST_URL on the emulator's Actions
// endpoint, with its request token) runs `twostage dev` against the
// emulator set of fake/emulators on one address. The CLI takes the STS
// and IAM Credentials URLs from the emulator's /v1/endpoints, not Google's,
// requests the job's OIDC token for the provider in twostage.yaml's wif:
// section (registered in stsfake exactly as `twostage wif render` would
// create it: condition pinned to repository ID 42 and owner ID 7, no pull
// requests) and exchanges it at STS before anything is pushed.
//
// The emulated Cloud Run and Artifact Registry run without IAM
// enforcement here (WithoutIAM: the grants are fake/emulators'
// TestLeastPrivilege's), so the refusals below come from STS itself, which
// is the point: a job of another repository (another repository_id), or a
// pull request of this one, gets no access token at all. The refused runs
// exit 1 with STS's reason naming the attribute condition, touch neither
// Cloud Run nor the registry, and print no token: no JWT (every JWT starts
// "eyJ"), no access token (stsfake's start "ya29."), not the request
// token.
func TestKeylessAuthWithEmulators(t *testing.T) {
	t.Parallel()
	set, err := emulators.Start(t.Context(), emulators.WithProject("test-project"), emulators.WithRepository("apps"),
		// This test is about the token exchange; the grants the tokens
		// need are TestLeastPrivilege's (fake/emulators).
		emulators.WithoutIAM())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "twostage.yaml")
	if err := os.WriteFile(cfgPath, []byte(wifConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "dist")
	os.MkdirAll(img, 0o755)
	os.WriteFile(filepath.Join(img, "index.html"), []byte("hello"), 0o644)

	// The provider, as twostage.yaml's wif: section describes it.
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	setup, ok := (&app{cfg: cfg}).wifSetup()
	if !ok {
		t.Fatal("wifConfig does not describe a complete wif setup")
	}
	sts := set.STS()
	if err := sts.AddProvider(stsProvider(setup.Provider)); err != nil {
		t.Fatal(err)
	}
	requestToken := sts.RequestToken()

	clock := fake.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	call := func(env map[string]string, args ...string) (code int, stdout, stderr string) {
		t.Helper()
		var out, errOut strings.Builder
		code = runClock(t.Context(), append(args, "--json", "--config", cfgPath), func(k string) string { return env[k] }, &out, &errOut, clock)
		return code, out.String(), errOut.String()
	}
	jobEnv := func(repo, sha string) map[string]string {
		return map[string]string{
			"TWOSTAGE_EMULATOR_HOST":         set.Addr, // the discovery form
			"GITHUB_ACTIONS":                 "true",
			"GITHUB_EVENT_NAME":              "push",
			"GITHUB_REF":                     "refs/heads/main",
			"GITHUB_SHA":                     sha,
			"GITHUB_ACTOR":                   "octocat",
			"GITHUB_REPOSITORY":              repo,
			"ACTIONS_ID_TOKEN_REQUEST_URL":   set.ActionsRequestURL(),
			"ACTIONS_ID_TOKEN_REQUEST_TOKEN": requestToken,
		}
	}
	// Every JWT the emulator signs starts "eyJ" (base64url of `{"`), and
	// its access tokens "ya29.", as Google's do: noSecrets looks for
	// those prefixes, so no token of any run can slip through.
	if jwt := sts.IssueToken(wif.GitHubClaims(setup.Repo, "push", "refs/heads/main"), time.Minute); !strings.HasPrefix(jwt, "eyJ") {
		t.Fatalf("stsfake's JWTs do not start with eyJ: %.10q…", jwt)
	}
	noSecrets := func(t *testing.T, outputs ...string) {
		t.Helper()
		for _, s := range outputs {
			for _, secret := range []string{"eyJ", "ya29.", requestToken} {
				if strings.Contains(s, secret) {
					t.Errorf("output holds a token (%q):\n%s", secret, s)
				}
			}
		}
	}

	// The repository of twostage.yaml, on a push to main: accepted as dev.
	sts.SetActionsClaims(wif.GitHubClaims(setup.Repo, "push", "refs/heads/main"))
	sha := strings.Repeat("ab12", 10)
	code, stdout, stderr := call(jobEnv("octo/app", sha), "dev", "--image-dir", img)
	if code != exitOK {
		t.Fatalf("dev from octo/app = exit %d, want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	noSecrets(t, stdout, stderr)
	var r cliResult
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("dev: stdout is not JSON: %v\n%s", err, stdout)
	}
	var dev struct {
		Revision string `json:"revision"`
	}
	json.Unmarshal(r.Result, &dev)
	if dev.Revision != "api-dev-ab12ab1" {
		t.Errorf("dev revision = %q, want api-dev-ab12ab1", dev.Revision)
	}
	// One OIDC token and one exchange served the whole command (the
	// access token is cached across every call), for the dev identity of
	// the provider twostage.yaml names.
	if got, want := []int{sts.Count(stsfake.MethodActions), sts.Count(stsfake.MethodToken)}, []int{1, 1}; !cmp.Equal(want, got) {
		t.Errorf("Actions token requests and STS exchanges = %v, want %v", got, want)
	}
	ids := sts.Tokens()
	if len(ids) != 1 {
		t.Fatalf("access tokens issued = %d, want 1", len(ids))
	}
	got := map[string]string{"provider": ids[0].Provider, "stage": ids[0].Attributes["attribute."+provision.StageAttribute], "repository_id": ids[0].Attributes["attribute.repository_id"]}
	want := map[string]string{"provider": setup.Provider.Name(), "stage": provision.StageDev, "repository_id": "42"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("issued identity mismatch (-want +got):\n%s", diff)
	}
	if !ids[0].Matches(wif.AttributePrincipal(setup.Pool, provision.StageAttribute, provision.StageDev).String()) {
		t.Errorf("identity %s is not in the dev principal set that `twostage wif` grants the dev service", ids[0].Principal)
	}

	// Refused: the exchange is refused by STS, so nothing else is called.
	other := wif.GitHubRepo{Owner: "octo", Name: "other", OwnerID: "7", ID: "99"}
	for _, tt := range []struct {
		name   string
		repo   string
		claims wif.Claims
		env    map[string]string // overrides of the job's environment
		want   []string          // in the error
	}{
		{
			name:   "another repository",
			repo:   "octo/other",
			claims: wif.GitHubClaims(other, "push", "refs/heads/main"),
			want:   []string{"attribute condition", "unauthorized_client", "this job runs in repository octo/other", "repository-id 42"},
		},
		{
			name:   "a pull request of this repository",
			repo:   "octo/app",
			claims: wif.GitHubClaims(setup.Repo, "pull_request", "refs/pull/1/merge"),
			want:   []string{"attribute condition", "no pull requests"},
		},
		{
			name:   "no request token",
			repo:   "octo/app",
			claims: wif.GitHubClaims(setup.Repo, "push", "refs/heads/main"),
			env:    map[string]string{"ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""},
			want:   []string{"ACTIONS_ID_TOKEN_REQUEST_TOKEN is not", "id-token: write"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sts.SetActionsClaims(tt.claims)
			runCalls, arCalls, issued := len(set.CloudRun().Requests()), set.ArtifactRegistry().Count("GetRepository"), len(sts.Tokens())
			env := jobEnv(tt.repo, strings.Repeat("cd34", 10))
			maps.Copy(env, tt.env)
			code, stdout, stderr := call(env, "dev", "--image-dir", img)
			if code != exitFailed {
				t.Fatalf("dev = exit %d, want %d\nstdout: %s\nstderr: %s", code, exitFailed, stdout, stderr)
			}
			noSecrets(t, stdout, stderr)
			var r cliResult
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.Error, w) {
					t.Errorf("error %q does not say %q", r.Error, w)
				}
			}
			if !strings.Contains(stderr, "::error") {
				t.Errorf("stderr has no ::error annotation:\n%s", stderr)
			}
			after := []int{len(set.CloudRun().Requests()), set.ArtifactRegistry().Count("GetRepository"), len(sts.Tokens())}
			if diff := cmp.Diff([]int{runCalls, arCalls, issued}, after); diff != "" {
				t.Errorf("Cloud Run calls, Artifact Registry calls, access tokens changed by a refused run (-before +after):\n%s", diff)
			}
		})
	}

	// doctor in a refused job reports the refusal with the keyless fix.
	t.Run("doctor", func(t *testing.T) {
		sts.SetActionsClaims(wif.GitHubClaims(other, "push", "refs/heads/main"))
		code, stdout, stderr := call(jobEnv("octo/other", strings.Repeat("cd34", 10)), "doctor")
		if code != exitFailed {
			t.Fatalf("doctor = exit %d, want %d\nstdout: %s\nstderr: %s", code, exitFailed, stdout, stderr)
		}
		noSecrets(t, stdout, stderr)
		var r struct {
			Result doctorResult `json:"result"`
		}
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
		}
		var found bool
		for _, f := range r.Result.Findings {
			if f.Check == "backend" && f.Severity == "error" && strings.Contains(f.Message, "attribute condition") && strings.Contains(f.Fix, "twostage wif simulate") {
				found = true
			}
		}
		if !found {
			t.Errorf("doctor findings = %+v, want a backend error naming the attribute condition with the wif simulate fix", r.Result.Findings)
		}
	})

	// A job whose ACTIONS_ID_TOKEN_REQUEST_URL is not the emulator's (a
	// real GitHub runner doing local play) never sends its token to the
	// emulator: keyless auth is skipped with a note, and the emulated APIs
	// are called without authentication, as before.
	t.Run("request URL not on the emulator", func(t *testing.T) {
		env := jobEnv("octo/app", strings.Repeat("ef56", 10))
		env["ACTIONS_ID_TOKEN_REQUEST_URL"] = "https://pipelines.actions.githubusercontent.invalid/abc/idtoken?api-version=2.0"
		actions, exchanges := sts.Count(stsfake.MethodActions), sts.Count(stsfake.MethodToken)
		code, stdout, stderr := call(env, "dev", "--image-dir", img)
		if code != exitOK {
			t.Fatalf("dev = exit %d, want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
		}
		if !strings.Contains(stderr, "not the emulator") || !strings.Contains(stderr, "keyless auth is skipped") {
			t.Errorf("stderr does not say keyless auth is skipped:\n%s", stderr)
		}
		if got := []int{sts.Count(stsfake.MethodActions), sts.Count(stsfake.MethodToken)}; !cmp.Equal([]int{actions, exchanges}, got) {
			t.Errorf("Actions requests and exchanges = %v, want unchanged %v", got, []int{actions, exchanges})
		}
	})
}

// TestKeylessImpersonationWithEmulators is keyless auth with
// wif.service-account: the federated token is exchanged for the service
// account's through the emulator's IAM Credentials (its iamCredentials
// endpoint, not Google's). Without roles/iam.workloadIdentityUser for the
// job's principal the command is refused (exit 1, the permission named,
// no token printed); once granted, dev deploys as the service account.
func TestKeylessImpersonationWithEmulators(t *testing.T) {
	t.Parallel()
	set, err := emulators.Start(t.Context(), emulators.WithProject("test-project"), emulators.WithRepository("apps"),
		// This test is about the token exchange; the grants the tokens
		// need are TestLeastPrivilege's (fake/emulators).
		emulators.WithoutIAM())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	const deployer = "deployer@test-project.iam.gserviceaccount.com"
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "twostage.yaml")
	if err := os.WriteFile(cfgPath, []byte(wifConfig+"  service-account: "+deployer+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "dist")
	os.MkdirAll(img, 0o755)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	setup, ok := (&app{cfg: cfg}).wifSetup()
	if !ok {
		t.Fatal("incomplete wif setup")
	}
	sts := set.STS()
	if err := sts.AddProvider(stsProvider(setup.Provider)); err != nil {
		t.Fatal(err)
	}
	sts.SetActionsClaims(wif.GitHubClaims(setup.Repo, "push", "refs/heads/main"))
	env := map[string]string{
		"TWOSTAGE_EMULATOR_HOST":         set.Addr,
		"GITHUB_ACTIONS":                 "true",
		"GITHUB_REF":                     "refs/heads/main",
		"GITHUB_REPOSITORY":              "octo/app",
		"ACTIONS_ID_TOKEN_REQUEST_URL":   set.ActionsRequestURL(),
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": sts.RequestToken(),
	}
	clock := fake.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	call := func(sha string) (int, cliResult, string) {
		t.Helper()
		env["GITHUB_SHA"] = sha
		var out, errOut strings.Builder
		code := runClock(t.Context(), []string{"dev", "--image-dir", img, "--json", "--config", cfgPath}, func(k string) string { return env[k] }, &out, &errOut, clock)
		for _, s := range []string{out.String(), errOut.String()} {
			for _, secret := range []string{"eyJ", "ya29.", sts.RequestToken()} {
				if strings.Contains(s, secret) {
					t.Errorf("output holds a token (%q):\n%s", secret, s)
				}
			}
		}
		var r cliResult
		if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, out.String())
		}
		return code, r, errOut.String()
	}

	code, r, stderr := call(strings.Repeat("1", 40))
	if code != exitFailed || !strings.Contains(r.Error, "iam.serviceAccounts.getAccessToken") || !strings.Contains(r.Error, "roles/iam.workloadIdentityUser") || !strings.Contains(r.Error, "impersonating wif.service-account "+deployer) {
		t.Errorf("dev without workloadIdentityUser = exit %d, error %q, want exit 1 naming the permission, the role and the service account\nstderr: %s", code, r.Error, stderr)
	}

	dev := wif.AttributePrincipal(setup.Pool, provision.StageAttribute, provision.StageDev).String()
	sts.AllowImpersonation(deployer, dev)
	if code, r, stderr := call(strings.Repeat("2", 40)); code != exitOK {
		t.Fatalf("dev with workloadIdentityUser = exit %d, error %q\nstderr: %s", code, r.Error, stderr)
	}
	var sas []string
	for _, id := range sts.Tokens() {
		sas = append(sas, id.ServiceAccount)
	}
	// The refused run's federated token, then the granted run's federated
	// token and the service account's.
	if diff := cmp.Diff([]string{"", "", deployer}, sas); diff != "" {
		t.Errorf("issued tokens' service accounts mismatch (-want +got):\n%s", diff)
	}
}

// stsProvider is the provider as the STS emulator takes it (stsfake
// imports nothing of package wif).
func stsProvider(p wif.Provider) stsfake.Provider {
	return stsfake.Provider{
		Name: p.Name(), IssuerURI: p.IssuerURI(), AllowedAudiences: p.AllowedAudiences,
		AttributeMapping: p.AttributeMapping, AttributeCondition: p.AttributeCondition, Disabled: p.Pool.Disabled,
	}
}
