package provision_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
)

func TestSimulateGitHubSetup(t *testing.T) {
	t.Parallel()
	s := testSetup()
	repo := testRepo()
	sibling := wif.GitHubRepo{Owner: repo.Owner, Name: "other", OwnerID: repo.OwnerID, ID: "5000777"}
	renamed := repo
	renamed.Name = "app-renamed"
	// A repository that took over the old name after the original was
	// renamed: same name, new ID.
	squatter := wif.GitHubRepo{Owner: repo.Owner, Name: repo.Name, OwnerID: repo.OwnerID, ID: "5999999"}
	forkOwner := wif.GitHubRepo{Owner: "mallory", Name: "app", OwnerID: "6660666", ID: "6660667"}

	const (
		repoWriter = "roles/artifactregistry.writer on artifactregistry.repository projects/my-proj/locations/europe-west1/repositories/images"
		repoReader = "roles/artifactregistry.reader on artifactregistry.repository projects/my-proj/locations/europe-west1/repositories/images"
		devRun     = "roles/run.developer on run.service projects/my-proj/locations/europe-west1/services/app-dev"
		prodRun    = "roles/run.developer on run.service projects/my-proj/locations/europe-west1/services/app"
		saUser     = "roles/iam.serviceAccountUser on iam.serviceAccount projects/my-proj/serviceAccounts/app-runtime@my-proj.iam.gserviceaccount.com"
	)
	dev := []string{repoWriter, devRun, saUser}
	prod := []string{repoReader, prodRun, saUser}

	forkPR := wif.GitHubClaims(repo, "pull_request", "refs/pull/7/merge")
	forkPR["head_ref"] = "mallory-patch-1" // the fork's branch; the token names the base repository
	wrongAud := wif.GitHubClaims(repo, "push", "refs/heads/main")
	wrongAud["aud"] = "https://github.com/octo-org"

	tests := []struct {
		name     string
		claims   wif.Claims
		accepted bool
		stage    string
		roles    []string
	}{
		{"push to main", wif.GitHubClaims(repo, "push", "refs/heads/main"), true, "dev", dev},
		{"workflow_dispatch on main", wif.GitHubClaims(repo, "workflow_dispatch", "refs/heads/main"), true, "dev", dev},
		{"push of tag v1.2.3", wif.GitHubClaims(repo, "push", "refs/tags/v1.2.3"), true, "prod", prod},
		{"push of a non-release tag", wif.GitHubClaims(repo, "push", "refs/tags/nightly"), true, "none", nil},
		{"push of a branch named like a tag", wif.GitHubClaims(repo, "push", "refs/heads/v1.2.3"), true, "none", nil},
		{"push to a feature branch", wif.GitHubClaims(repo, "push", "refs/heads/feature"), true, "none", nil},
		{"pull request from a fork", forkPR, false, "", nil},
		{"pull_request_target on main", wif.GitHubClaims(repo, "pull_request_target", "refs/heads/main"), false, "", nil},
		{"pull request from the same repository", wif.GitHubClaims(repo, "pull_request", "refs/pull/8/merge"), false, "", nil},
		{"another repository of the same owner", wif.GitHubClaims(sibling, "push", "refs/heads/main"), false, "", nil},
		{"repository of another owner with the same name", wif.GitHubClaims(forkOwner, "push", "refs/tags/v1.2.3"), false, "", nil},
		{"new repository under the old name", wif.GitHubClaims(squatter, "push", "refs/tags/v1.2.3"), false, "", nil},
		{"renamed repository", wif.GitHubClaims(renamed, "push", "refs/tags/v1.2.3"), true, "prod", prod},
		{"wrong audience", wrongAud, false, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := provision.Simulate(s, tt.claims)
			if err != nil {
				t.Fatal(err)
			}
			if got.Accepted != tt.accepted {
				t.Fatalf("Accepted = %v (reason %q), want %v", got.Accepted, got.Reason, tt.accepted)
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
