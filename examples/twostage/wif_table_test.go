package main

import (
	"strings"
	"testing"

	"github.com/twostage/twostage/examples/twostage/internal/config"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
)

// TestWIFDefaultsTable holds the claim set → identity table of issue 19 for
// the CLI's defaults (twostage.yaml's wif: section, with and without
// prod-environment): the same events get the same identity as with the
// library's defaults, every adversarial claim set of the semantic lint
// gets nothing, and lint finds nothing.
func TestWIFDefaultsTable(t *testing.T) {
	t.Parallel()
	for name, yaml := range map[string]string{
		"prod-environment production": wifConfig,
		"prod-environment by default": strings.Replace(wifConfig, "  prod-environment: production\n", "", 1),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Parse("twostage.yaml", []byte(yaml))
			if err != nil {
				t.Fatal(err)
			}
			s, ok, err := (&app{cfg: cfg}).wifSetupErr()
			if err != nil || !ok {
				t.Fatalf("wifSetupErr() = %v, %v", ok, err)
			}
			if fs := provision.Lint(s); len(fs) != 0 {
				t.Errorf("Lint of the CLI's setup = %v, want no findings", fs)
			}
			repo := s.Repo
			renamed := repo
			renamed.Name = "app-renamed"
			env := func(c wif.Claims, e string) wif.Claims { c["environment"] = e; return c }
			tests := []struct {
				name   string
				claims wif.Claims
				want   string // "" when refused
			}{
				{"push to main", wif.GitHubClaims(repo, "push", "refs/heads/main"), "dev"},
				{"push of tag v1.2.3", wif.GitHubClaims(repo, "push", "refs/tags/v1.2.3"), "release"},
				{"workflow_dispatch on main in production", env(wif.GitHubClaims(repo, "workflow_dispatch", "refs/heads/main"), "production"), "promote"},
				{"schedule on main in production", env(wif.GitHubClaims(repo, "schedule", "refs/heads/main"), "production"), "promote"},
				{"schedule on main in production-resume", env(wif.GitHubClaims(repo, "schedule", "refs/heads/main"), "production-resume"), "promote"},
				{"workflow_dispatch on a feature branch in production-resume", env(wif.GitHubClaims(repo, "workflow_dispatch", "refs/heads/feature"), "production-resume"), ""},
				{"workflow_dispatch on main without environment", wif.GitHubClaims(repo, "workflow_dispatch", "refs/heads/main"), ""},
				{"workflow_run on main in production", env(wif.GitHubClaims(repo, "workflow_run", "refs/heads/main"), "production"), ""},
				{"push of tag vEVIL", wif.GitHubClaims(repo, "push", "refs/tags/vEVIL"), ""},
				{"pull request", wif.GitHubClaims(repo, "pull_request", "refs/pull/1/merge"), ""},
				{"push of tag v2.0.0-rc.1", wif.GitHubClaims(repo, "push", "refs/tags/v2.0.0-rc.1"), "release"},
				{"renamed repository, push of tag v1.2.3", wif.GitHubClaims(renamed, "push", "refs/tags/v1.2.3"), "release"},
				{"push to main in production", env(wif.GitHubClaims(repo, "push", "refs/heads/main"), "production"), "dev"},
				{"workflow_dispatch on main in staging", env(wif.GitHubClaims(repo, "workflow_dispatch", "refs/heads/main"), "staging"), ""},
				{"push of a non-release tag", wif.GitHubClaims(repo, "push", "refs/tags/nightly"), ""},
				{"push of tag v1.2", wif.GitHubClaims(repo, "push", "refs/tags/v1.2"), ""},
				{"push of a branch named like a tag", wif.GitHubClaims(repo, "push", "refs/heads/v1.2.3"), ""},
				{"push to a feature branch", wif.GitHubClaims(repo, "push", "refs/heads/feature"), ""},
			}
			for _, p := range provision.GitHubProbes(repo, s.DevBranch, s.ProdEnvironment) {
				tests = append(tests, struct {
					name   string
					claims wif.Claims
					want   string
				}{"probe: " + p.Name, p.Claims, ""})
			}
			for _, tt := range tests {
				r, err := provision.Simulate(s, tt.claims)
				if err != nil {
					t.Fatal(err)
				}
				got := ""
				if r.Accepted && len(r.Bindings) > 0 {
					got = r.Mapping.Attributes["attribute."+provision.StageAttribute]
				}
				if got != tt.want {
					t.Errorf("%s: identity %q (accepted %v, %s), want %q", tt.name, got, r.Accepted, r.Reason, tt.want)
				}
			}
		})
	}
}

// TestDoctorWIF: doctor reports the lint as clean (with the number of
// adversarial claim sets) and lists each GitHub setting the identity model
// assumes, naming the branch, the tag pattern and both environments.
func TestDoctorWIF(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse("twostage.yaml", []byte(wifConfig))
	if err != nil {
		t.Fatal(err)
	}
	a := &app{cfg: cfg}
	s, ok, err := a.wifSetupErr()
	if err != nil || !ok {
		t.Fatalf("wifSetupErr() = %v, %v", ok, err)
	}
	var got []finding
	a.doctorWIF(s, func(check, sev, msg, fix string) { got = append(got, finding{check, sev, msg, fix}) })
	var settings []string
	for _, f := range got {
		switch {
		case f.Check == "wif" && f.Severity == "ok":
			if !strings.Contains(f.Message, "12 adversarial claim sets") {
				t.Errorf("doctor wif ok = %q, want the number of claim sets", f.Message)
			}
		case f.Check == "wif/github-settings" && f.Severity == "info":
			settings = append(settings, f.Message)
		default:
			t.Errorf("unexpected doctor finding %+v", f)
		}
	}
	all := strings.Join(settings, "\n")
	for _, want := range []string{"branch main is protected", "tags matching " + cfg.Release.TagPattern, `environment "production" allows deployments from branch main only`, `environment "production-resume"`} {
		if !strings.Contains(all, want) {
			t.Errorf("doctor's GitHub settings lack %q:\n%s", want, all)
		}
	}
}
