package wif_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage/wif"
)

const poolBase = "iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/"

// seedSetup is the setup of a typical hand-written pipeline: no condition,
// google.subject from sub, run.admin on the whole project for the
// repository by name.
func seedSetup() wif.Setup {
	pool := wif.Pool{Project: "my-proj", ProjectNumber: "123456789012", ID: "github"}
	return wif.Setup{
		Project:       "my-proj",
		ProjectNumber: "123456789012",
		Pool:          pool,
		Provider: wif.Provider{
			Pool:   pool,
			ID:     "github-actions",
			Issuer: wif.GitHubIssuer,
			AttributeMapping: map[string]string{
				"google.subject":       "assertion.sub",
				"attribute.repository": "assertion.repository",
			},
		},
		Bindings: []wif.Binding{
			{Resource: wif.ProjectResource("my-proj"), Role: "roles/run.admin", Member: "principalSet://" + poolBase + "attribute.repository/octo-org/app"},
		},
	}
}

func ids(fs []wif.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}

func TestLintGitHubSetupIsClean(t *testing.T) {
	t.Parallel()
	for _, public := range []bool{false, true} {
		c := testConfig()
		c.PublicInvoker = public
		if got := wif.Lint(wif.GitHubSetup(c)); len(got) != 0 {
			t.Errorf("Lint(GitHubSetup(PublicInvoker=%v)) = %v, want no findings", public, got)
		}
	}
}

func TestLintSeedSetup(t *testing.T) {
	t.Parallel()
	got := wif.Lint(seedSetup())
	want := []string{wif.RuleNoCondition, wif.RuleNameBased, wif.RuleLongSubject, wif.RuleProjectWide, wif.RuleRunAdmin}
	if diff := cmp.Diff(want, ids(got)); diff != "" {
		t.Errorf("Lint(seed) IDs mismatch (-want +got):\n%s\nfindings: %v", diff, got)
	}
	for _, f := range got {
		if f.Message == "" || f.Fix == "" || (f.Severity != wif.SeverityError && f.Severity != wif.SeverityWarning) {
			t.Errorf("finding %+v lacks a message, fix or severity", f)
		}
	}
}

func TestLintRules(t *testing.T) {
	t.Parallel()
	dev := "principalSet://" + poolBase + "attribute.stage/dev"
	prodSvc := wif.RunServiceResource("my-proj", "europe-west1", "app", wif.StageProd)
	tests := []struct {
		name string
		edit func(s *wif.Setup)
		want []string
	}{
		{"no condition", func(s *wif.Setup) { s.Provider.AttributeCondition = "" }, []string{wif.RuleNoCondition}},
		{"condition on repository name", func(s *wif.Setup) {
			s.Provider.AttributeCondition = "assertion.repository == 'octo-org/app'"
		}, []string{wif.RuleNameBased}},
		{"condition on owner name", func(s *wif.Setup) {
			s.Provider.AttributeCondition = "assertion.repository_owner == 'octo-org' && assertion.repository_id == '5000005'"
		}, []string{wif.RuleNameBased}},
		{"condition on sub", func(s *wif.Setup) {
			s.Provider.AttributeCondition = "assertion.sub.startsWith('repo:octo-org/app:')"
		}, []string{wif.RuleNameBased}},
		{"ID-based condition is fine", func(s *wif.Setup) {
			s.Provider.AttributeCondition = "assertion.repository_owner_id == '1000001' && assertion.repository_id == '5000005'"
		}, nil},
		{"binding on repository name", func(s *wif.Setup) {
			s.Bindings[0].Member = "principalSet://" + poolBase + "attribute.repository/octo-org/app"
		}, []string{wif.RuleNameBased}},
		{"binding on a name-based subject", func(s *wif.Setup) {
			s.Bindings[0].Member = "principal://" + poolBase + "subject/repo:octo-org/app:ref:refs/heads/main"
		}, []string{wif.RuleNameBased}},
		{"wildcard principal set", func(s *wif.Setup) {
			s.Bindings[0].Member = "principalSet://" + poolBase + "*"
		}, []string{wif.RuleWildcard}},
		{"subject from sub", func(s *wif.Setup) {
			s.Provider.AttributeMapping["google.subject"] = "assertion.sub"
		}, []string{wif.RuleLongSubject}},
		{"subject from repository name and ref", func(s *wif.Setup) {
			s.Provider.AttributeMapping["google.subject"] = "assertion.repository + '@' + assertion.ref"
		}, []string{wif.RuleLongSubject}},
		{"artifactregistry.writer on the project", func(s *wif.Setup) {
			s.Bindings[0].Resource = wif.ProjectResource("my-proj")
		}, []string{wif.RuleProjectWide}},
		{"serviceAccountUser on the project", func(s *wif.Setup) {
			s.Bindings[4].Resource = wif.ProjectResource("my-proj")
		}, []string{wif.RuleProjectWide}},
		{"project-wide role without a narrower home is fine", func(s *wif.Setup) {
			s.Bindings = append(s.Bindings, wif.Binding{Resource: wif.ProjectResource("my-proj"), Role: "roles/logging.viewer", Member: dev})
		}, nil},
		{"run.admin on a service", func(s *wif.Setup) { s.Bindings[2].Role = "roles/run.admin" }, []string{wif.RuleRunAdmin}},
		{"prod bound to the repository ID", func(s *wif.Setup) {
			s.Bindings[3].Member = "principalSet://" + poolBase + "attribute.repository_id/5000005"
		}, []string{wif.RuleProdFromBranch}},
		{"prod bound to the dev identity", func(s *wif.Setup) {
			s.Bindings = append(s.Bindings, wif.Binding{Resource: prodSvc, Role: "roles/run.viewer", Member: dev})
		}, []string{wif.RuleProdFromBranch}},
		{"prod bound to attribute.ref of main", func(s *wif.Setup) {
			s.Bindings[3].Member = "principalSet://" + poolBase + "attribute.ref/refs/heads/main"
		}, []string{wif.RuleProdFromBranch}},
		{"prod reachable from pull requests", func(s *wif.Setup) {
			// Without the pull-request clause, a pull request maps to
			// stage none; bind prod to event_name pull_request to reach it.
			s.Provider.AttributeCondition = wif.GitHubCondition(testRepo())
			s.Bindings[3].Member = "principalSet://" + poolBase + "attribute.event_name/pull_request"
		}, []string{wif.RuleProdFromBranch}},
		{"prod bound to release tags", func(s *wif.Setup) {
			s.Bindings[3].Member = "principalSet://" + poolBase + "attribute.ref/refs/tags/v1.0.0"
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := testSetup()
			tt.edit(&s)
			got := wif.Lint(s)
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
				t.Errorf("Lint IDs mismatch (-want +got):\n%s\nfindings: %v", diff, got)
			}
		})
	}
}

func BenchmarkLint(b *testing.B) {
	s := testSetup()
	b.ReportAllocs()
	for b.Loop() {
		if f := wif.Lint(s); len(f) != 0 {
			b.Fatal(f)
		}
	}
}
