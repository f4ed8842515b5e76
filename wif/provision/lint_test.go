package provision_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
)

const poolBase = "iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/"

// seedSetup is the setup of a typical hand-written pipeline: no condition,
// google.subject from sub, run.admin on the whole project for the
// repository by name.
func seedSetup() provision.Setup {
	pool := wif.Pool{Project: "my-proj", ProjectNumber: "123456789012", ID: "github"}
	return provision.Setup{
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
		Bindings: []provision.Binding{
			{Resource: provision.ProjectResource("my-proj"), Role: "roles/run.admin", Member: "principalSet://" + poolBase + "attribute.repository/octo-org/app"},
		},
	}
}

func ids(fs []provision.LintFinding) []string {
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
		if got := provision.Lint(mustSetup(c)); len(got) != 0 {
			t.Errorf("Lint(GitHubSetup(PublicInvoker=%v)) = %v, want no findings", public, got)
		}
	}
}

func TestLintSeedSetup(t *testing.T) {
	t.Parallel()
	got := provision.Lint(seedSetup())
	want := []string{provision.RuleNoCondition, provision.RuleNameBased, provision.RuleLongSubject, provision.RuleProjectWide, provision.RuleRunAdmin}
	if diff := cmp.Diff(want, ids(got)); diff != "" {
		t.Errorf("Lint(seed) IDs mismatch (-want +got):\n%s\nfindings: %v", diff, got)
	}
	for _, f := range got {
		if f.Message == "" || f.Fix == "" || (f.Severity != provision.LintError && f.Severity != provision.LintWarning) {
			t.Errorf("finding %+v lacks a message, fix or severity", f)
		}
	}
}

func TestLintRules(t *testing.T) {
	t.Parallel()
	dev := "principalSet://" + poolBase + "attribute.stage/dev"
	prodSvc := provision.RunServiceResource("my-proj", "europe-west1", "app", provision.StageProd)
	tests := []struct {
		name string
		edit func(s *provision.Setup)
		want []string
	}{
		{"no condition", func(s *provision.Setup) { s.Provider.AttributeCondition = "" },
			// another repository of the owner, recreated, cybersquatted, look-alike ID
			[]string{provision.RuleNoCondition, provision.RuleAdversarialToken, provision.RuleAdversarialToken, provision.RuleAdversarialToken, provision.RuleAdversarialToken}},
		{"condition on repository name", func(s *provision.Setup) {
			s.Provider.AttributeCondition = "assertion.repository == 'octo-org/app'"
		}, []string{provision.RuleNameBased, provision.RuleAdversarialToken, provision.RuleAdversarialToken}}, // recreated, cybersquatted
		{"condition on owner name", func(s *provision.Setup) {
			s.Provider.AttributeCondition = "assertion.repository_owner == 'octo-org' && assertion.repository_id == '5000005'"
		}, []string{provision.RuleNameBased}},
		{"condition on sub", func(s *provision.Setup) {
			s.Provider.AttributeCondition = "assertion.sub.startsWith('repo:octo-org/app:')"
		}, []string{provision.RuleNameBased, provision.RuleAdversarialToken, provision.RuleAdversarialToken}}, // recreated, cybersquatted
		{"ID-based condition is fine", func(s *provision.Setup) {
			s.Provider.AttributeCondition = "assertion.repository_owner_id == '1000001' && assertion.repository_id == '5000005'"
		}, nil},
		{"binding on repository name", func(s *provision.Setup) {
			s.Bindings[0].Member = "principalSet://" + poolBase + "attribute.repository/octo-org/app"
		}, []string{provision.RuleNameBased}},
		{"binding on a name-based subject", func(s *provision.Setup) {
			s.Bindings[0].Member = "principal://" + poolBase + "subject/repo:octo-org/app:ref:refs/heads/main"
		}, []string{provision.RuleNameBased}},
		{"wildcard principal set", func(s *provision.Setup) {
			s.Bindings[0].Member = "principalSet://" + poolBase + "*"
		}, []string{provision.RuleWildcard}},
		{"subject from sub", func(s *provision.Setup) {
			s.Provider.AttributeMapping["google.subject"] = "assertion.sub"
		}, []string{provision.RuleLongSubject}},
		{"subject from repository name and ref", func(s *provision.Setup) {
			s.Provider.AttributeMapping["google.subject"] = "assertion.repository + '@' + assertion.ref"
		}, []string{provision.RuleLongSubject}},
		{"artifactregistry.writer on the project", func(s *provision.Setup) {
			s.Bindings[0].Resource = provision.ProjectResource("my-proj")
		}, []string{provision.RuleProjectWide}},
		{"serviceAccountUser on the project", func(s *provision.Setup) {
			s.Bindings[5].Resource = provision.ProjectResource("my-proj")
		}, []string{provision.RuleProjectWide}},
		{"project-wide role without a narrower home is fine", func(s *provision.Setup) {
			s.Bindings = append(s.Bindings, provision.Binding{Resource: provision.ProjectResource("my-proj"), Role: "roles/logging.viewer", Member: dev})
		}, nil},
		{"run.admin on a service", func(s *provision.Setup) { s.Bindings[2].Role = "roles/run.admin" }, []string{provision.RuleRunAdmin}},
		{"prod bound to the repository ID", func(s *provision.Setup) {
			s.Bindings[3].Member = "principalSet://" + poolBase + "attribute.repository_id/5000005"
		}, []string{provision.RuleProdFromBranch}},
		{"prod bound to the dev identity", func(s *provision.Setup) {
			s.Bindings = append(s.Bindings, provision.Binding{Resource: prodSvc, Role: "roles/run.viewer", Member: dev})
		}, []string{provision.RuleProdFromBranch}},
		{"prod bound to attribute.ref of main", func(s *provision.Setup) {
			s.Bindings[3].Member = "principalSet://" + poolBase + "attribute.ref/refs/heads/main"
		}, []string{provision.RuleProdFromBranch}},
		{"prod reachable from pull requests", func(s *provision.Setup) {
			// Without the pull-request clause, a pull request maps to
			// stage none; bind prod to event_name pull_request to reach it.
			s.Provider.AttributeCondition = wif.GitHubCondition(testRepo())
			s.Bindings[3].Member = "principalSet://" + poolBase + "attribute.event_name/pull_request"
		}, []string{provision.RuleProdFromBranch, provision.RuleAdversarialToken}}, // fork pull request
		{"prod bound to release tags", func(s *provision.Setup) {
			s.Bindings[3].Member = "principalSet://" + poolBase + "attribute.ref/refs/tags/v1.0.0"
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := testSetup()
			tt.edit(&s)
			got := provision.Lint(s)
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
				t.Errorf("Lint IDs mismatch (-want +got):\n%s\nfindings: %v", diff, got)
			}
		})
	}
}

// TestLintFlagsWeakConditions: the semantic lint (WIF008) flags every weak
// condition of issue 19, with the default mapping kept, which the textual
// rules alone let through (or catch only by name).
func TestLintFlagsWeakConditions(t *testing.T) {
	t.Parallel()
	for _, cond := range []string{
		"true",
		"assertion.repository_id != ''",
		"assertion['repository'] == 'octo-org/app'",
		"assertion.repository_owner_id == '1000001'",
		"assertion.repository_id.startsWith('5000005')",
		"assertion.repository_owner_id == '1000001' || assertion.repository_id == '5000005'",
		"assertion.repository_owner_id == '1000001' && assertion.repository_id == '5000005'", // no stage pin: probes of this repository get in
	} {
		t.Run(cond, func(t *testing.T) {
			t.Parallel()
			s := testSetup()
			s.Provider.AttributeCondition = cond
			// The old, event-blind mapping: anything on main is dev.
			s.Provider.AttributeMapping["attribute.stage"] = "assertion.ref == 'refs/heads/main' ? 'dev' : 'none'"
			n := 0
			for _, f := range provision.Lint(s) {
				if f.ID == provision.RuleAdversarialToken {
					n++
					if f.Severity != provision.LintError || f.Fix == "" {
						t.Errorf("finding %v: want an error with a fix", f)
					}
				}
			}
			if n == 0 {
				t.Errorf("Lint with condition %q found no adversarial token that gets a stage", cond)
			}
		})
	}
	// The same conditions with the event-exact mapping: still flagged,
	// except the exact ID pin, which is then the default.
	for _, cond := range []string{
		"true",
		"assertion.repository_id != ''",
		"assertion['repository'] == 'octo-org/app'",
		"assertion.repository_owner_id == '1000001'",
		"assertion.repository_id.startsWith('5000005')",
		"assertion.repository_owner_id == '1000001' || assertion.repository_id == '5000005'",
	} {
		s := testSetup()
		s.Provider.AttributeCondition = cond
		if got := ids(provision.Lint(s)); !slices.Contains(got, provision.RuleAdversarialToken) {
			t.Errorf("Lint with condition %q and the default mapping = %v, want %s", cond, got, provision.RuleAdversarialToken)
		}
	}
}

func BenchmarkLint(b *testing.B) {
	s := testSetup()
	b.ReportAllocs()
	for b.Loop() {
		if f := provision.Lint(s); len(f) != 0 {
			b.Fatal(f)
		}
	}
}
