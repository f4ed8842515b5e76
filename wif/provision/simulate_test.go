package provision_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
)

// TestSimulateGitHubSetup holds the table of issue 19: every claim set,
// legitimate or adversarial, and the identity the event-exact defaults of
// GitHubSetup give it ("" for a token STS refuses), with its roles.
func TestSimulateGitHubSetup(t *testing.T) {
	t.Parallel()
	s := testSetup()
	repo := testRepo()
	renamed := repo
	renamed.Name = "app-renamed"

	const (
		repoWriter = "roles/artifactregistry.writer on artifactregistry.repository projects/my-proj/locations/europe-west1/repositories/images"
		repoReader = "roles/artifactregistry.reader on artifactregistry.repository projects/my-proj/locations/europe-west1/repositories/images"
		devRun     = "roles/run.developer on run.service projects/my-proj/locations/europe-west1/services/app-dev"
		prodRun    = "roles/run.developer on run.service projects/my-proj/locations/europe-west1/services/app"
		saUser     = "roles/iam.serviceAccountUser on iam.serviceAccount projects/my-proj/serviceAccounts/app-runtime@my-proj.iam.gserviceaccount.com"
	)
	dev := []string{repoWriter, devRun, saUser}
	release := []string{repoReader, prodRun, saUser}
	promote := []string{prodRun, saUser}

	inEnv := func(c wif.Claims, env string) wif.Claims { c["environment"] = env; return c }
	wrongAud := wif.GitHubClaims(repo, "push", "refs/heads/main")
	wrongAud["aud"] = "https://github.com/octo-org"

	type row struct {
		name   string
		claims wif.Claims
		stage  string // "" when STS refuses the token
		roles  []string
	}
	tests := []row{
		{"push to main", wif.GitHubClaims(repo, "push", "refs/heads/main"), "dev", dev},
		{"push of tag v1.2.3", wif.GitHubClaims(repo, "push", "refs/tags/v1.2.3"), "release", release},
		{"push of tag v2.0.0-rc.1", wif.GitHubClaims(repo, "push", "refs/tags/v2.0.0-rc.1"), "release", release},
		{"workflow_dispatch on main in production", inEnv(wif.GitHubClaims(repo, "workflow_dispatch", "refs/heads/main"), "production"), "promote", promote},
		{"schedule on main in production", inEnv(wif.GitHubClaims(repo, "schedule", "refs/heads/main"), "production"), "promote", promote},
		{"renamed repository, push of tag v1.2.3", wif.GitHubClaims(renamed, "push", "refs/tags/v1.2.3"), "release", release},
		{"workflow_dispatch on main without environment", wif.GitHubClaims(repo, "workflow_dispatch", "refs/heads/main"), "", nil},
		{"workflow_dispatch on main in staging", inEnv(wif.GitHubClaims(repo, "workflow_dispatch", "refs/heads/main"), "staging"), "", nil},
		{"push to main in production", inEnv(wif.GitHubClaims(repo, "push", "refs/heads/main"), "production"), "dev", dev},
		{"push of tag v1.2.3 in production", inEnv(wif.GitHubClaims(repo, "push", "refs/tags/v1.2.3"), "production"), "release", release},
		{"push of a non-release tag", wif.GitHubClaims(repo, "push", "refs/tags/nightly"), "", nil},
		{"push of tag v1.2", wif.GitHubClaims(repo, "push", "refs/tags/v1.2"), "", nil},
		{"push of a branch named like a tag", wif.GitHubClaims(repo, "push", "refs/heads/v1.2.3"), "", nil},
		{"push to a feature branch", wif.GitHubClaims(repo, "push", "refs/heads/feature"), "", nil},
		{"pull request from the same repository", wif.GitHubClaims(repo, "pull_request", "refs/pull/8/merge"), "", nil},
		{"wrong audience", wrongAud, "", nil},
	}
	for _, p := range provision.GitHubProbes(repo, "main", "production") {
		tests = append(tests, row{"probe: " + p.Name, p.Claims, "", nil})
	}
	if n := len(provision.GitHubProbes(repo, "", "")); n != 12 {
		t.Errorf("GitHubProbes has %d claim sets, want the 12 of issue 19", n)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := provision.Simulate(s, tt.claims)
			if err != nil {
				t.Fatal(err)
			}
			if got.Accepted != (tt.stage != "") {
				t.Fatalf("Accepted = %v (reason %q, stage %q), want stage %q", got.Accepted, got.Reason, got.Mapping.Attributes["attribute.stage"], tt.stage)
			}
			if !got.Accepted {
				if got.Reason == "" || len(got.Bindings) != 0 || len(got.Principals) != 0 {
					t.Errorf("refused token: reason %q, bindings %v, principals %v; want a reason and nothing else", got.Reason, got.Bindings, got.Principals)
				}
				return
			}
			if st := got.Mapping.Attributes["attribute.stage"]; st != tt.stage {
				t.Errorf("attribute.stage = %q, want %q", st, tt.stage)
			}
			if diff := cmp.Diff(tt.roles, got.Roles()); diff != "" {
				t.Errorf("Roles() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSimulatePrincipals(t *testing.T) {
	t.Parallel()
	s := testSetup()
	got, err := provision.Simulate(s, wif.GitHubClaims(testRepo(), "push", "refs/heads/main"))
	if err != nil {
		t.Fatal(err)
	}
	base := "iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/"
	want := []string{
		"principal://" + base + "subject/repo:5000005:run:9876543210:1",
		"principalSet://" + base + "attribute.actor_id/583231",
		"principalSet://" + base + "attribute.event_name/push",
		"principalSet://" + base + "attribute.ref/refs/heads/main",
		"principalSet://" + base + "attribute.ref_type/branch",
		"principalSet://" + base + "attribute.repository/octo-org/app",
		"principalSet://" + base + "attribute.repository_id/5000005",
		"principalSet://" + base + "attribute.repository_owner_id/1000001",
		"principalSet://" + base + "attribute.stage/dev",
		"principalSet://" + base + "attribute.workflow_ref/octo-org/app/.github/workflows/deploy.yml@refs/heads/main",
		"principalSet://" + base + "*",
	}
	if diff := cmp.Diff(want, got.Principals); diff != "" {
		t.Errorf("Principals mismatch (-want +got):\n%s", diff)
	}
}

func TestSimulateDisabledPool(t *testing.T) {
	t.Parallel()
	s := testSetup()
	s.Pool.Disabled = true
	got, err := provision.Simulate(s, wif.GitHubClaims(testRepo(), "push", "refs/heads/main"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Accepted || len(got.Bindings) != 0 {
		t.Errorf("Simulate on a disabled pool: accepted %v, bindings %v; want refused", got.Accepted, got.Bindings)
	}
}

func TestSimulateMalformedProvider(t *testing.T) {
	t.Parallel()
	s := testSetup()
	s.Provider.AttributeCondition = "assertion.repository_id =="
	if _, err := provision.Simulate(s, wif.GitHubClaims(testRepo(), "push", "refs/heads/main")); err == nil {
		t.Error("Simulate with a condition that does not compile = nil error")
	}
}

func BenchmarkSimulate(b *testing.B) {
	s := testSetup()
	c := wif.GitHubClaims(testRepo(), "push", "refs/tags/v1.2.3")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := provision.Simulate(s, c); err != nil {
			b.Fatal(err)
		}
	}
}
