package provision_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
)

func TestDefaultReleaseTagPatternIsThePipelines(t *testing.T) {
	t.Parallel()
	if provision.DefaultReleaseTagPattern != pipeline.SemverTag {
		t.Errorf("DefaultReleaseTagPattern = %q, want pipeline.SemverTag %q", provision.DefaultReleaseTagPattern, pipeline.SemverTag)
	}
}

var releaseTags = []string{
	"v1.2.3", "v0.0.0", "v10.20.30", "v1.2.3-rc.1", "v1.2.3+build.7", "v2.0.0-rc.1+b",
	"vEVIL", "v1.2", "v01.2.3", "1.2.3", "v1.2.3.4", "xv1.2.3", "v1.2.3\n", "refs/tags/v1.2.3", "", "v",
	"release-1", "nightly", "v1.2.3-", "V1.2.3",
}

// TestGitHubReleaseRefPattern: a tag matches the tag pattern exactly when
// its ref matches the derived ref pattern, for anchored and unanchored
// patterns; patterns whose anchors cannot be carried over are refused.
func TestGitHubReleaseRefPattern(t *testing.T) {
	t.Parallel()
	for _, p := range []string{pipeline.SemverTag, `^v[0-9]+$`, `v[0-9]+`, `^(?:v|release-)[0-9]+`, `(?i)v1`, `^v`, `^`, `-rc\.`, `^\d+\.\d+\.\d+$`} {
		ref, err := provision.GitHubReleaseRefPattern(p)
		if err != nil {
			t.Errorf("GitHubReleaseRefPattern(%q): %v", p, err)
			continue
		}
		if !strings.HasPrefix(ref, "^refs/tags/") {
			t.Errorf("GitHubReleaseRefPattern(%q) = %q, want it anchored on ^refs/tags/", p, ref)
		}
		tagRE, refRE := regexp.MustCompile(p), regexp.MustCompile(ref)
		for _, tag := range releaseTags {
			if a, b := tagRE.MatchString(tag), refRE.MatchString("refs/tags/"+tag); a != b {
				t.Errorf("pattern %q: tag %q matches %v, ref pattern %q matches %v", p, tag, a, ref, b)
			}
		}
	}
	for _, p := range []string{`^a|^b`, `(?m)^v`, `v|^x`, `(`, `\Av`} {
		if ref, err := provision.GitHubReleaseRefPattern(p); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("GitHubReleaseRefPattern(%q) = %q, %v; want ErrInvalid", p, ref, err)
		}
	}
}

func FuzzGitHubReleaseRefPattern(f *testing.F) {
	f.Add(pipeline.SemverTag, "v1.2.3")
	f.Add(`v[0-9]+`, "xv1")
	f.Add(`^a|b`, "b")
	f.Add(`^(?:a)b`, "ab")
	f.Fuzz(func(t *testing.T, p, tag string) {
		ref, err := provision.GitHubReleaseRefPattern(p)
		if err != nil {
			return
		}
		tagRE, err1 := regexp.Compile(p)
		refRE, err2 := regexp.Compile(ref)
		if err1 != nil || err2 != nil {
			t.Fatalf("pattern %q → %q: compile errors %v, %v", p, ref, err1, err2)
		}
		if a, b := tagRE.MatchString(tag), refRE.MatchString("refs/tags/"+tag); a != b {
			t.Fatalf("pattern %q: tag %q matches %v, ref pattern %q matches %v", p, tag, a, ref, b)
		}
	})
}

// TestStageMappingReleaseTags: the CEL mapping (evaluated as STS does)
// makes exactly the tags the pipeline accepts releases.
func TestStageMappingReleaseTags(t *testing.T) {
	t.Parallel()
	s := testSetup()
	re := regexp.MustCompile(pipeline.SemverTag)
	for _, tag := range releaseTags {
		if strings.ContainsAny(tag, "\n") || tag == "" {
			continue
		}
		m, err := provision.Evaluate(s.Provider, wif.GitHubClaims(testRepo(), "push", "refs/tags/"+tag))
		if err != nil {
			t.Fatal(err)
		}
		got := m.Accepted && m.Attributes["attribute.stage"] == provision.IdentityRelease
		if want := re.MatchString(tag); got != want {
			t.Errorf("tag %q: release %v (stage %q, %s), want %v", tag, got, m.Attributes["attribute.stage"], m.Reason, want)
		}
	}
}

// TestGitHubSetupOptions: the optional pins and their defaults.
func TestGitHubSetupOptions(t *testing.T) {
	t.Parallel()
	repo := testRepo()
	selfHosted := wif.GitHubClaims(repo, "push", "refs/heads/main")
	selfHosted["runner_environment"] = "self-hosted"
	foreign := wif.GitHubClaims(repo, "push", "refs/heads/main")
	foreign["job_workflow_ref"] = "other-org/ci/.github/workflows/deploy.yml@refs/heads/main"
	push := wif.GitHubClaims(repo, "push", "refs/heads/main") // job_workflow_ref …/deploy.yml
	release := wif.GitHubClaims(repo, "push", "refs/tags/v1.2.3")
	release["environment"] = "release-gate"
	bareRelease := wif.GitHubClaims(repo, "push", "refs/tags/v1.2.3")
	resume := wif.GitHubClaims(repo, "schedule", "refs/heads/main")
	resume["environment"] = "production-resume"
	tests := []struct {
		name   string
		edit   func(c *provision.GitHubConfig)
		claims wif.Claims
		want   string
	}{
		{"self-hosted refused by default", func(*provision.GitHubConfig) {}, selfHosted, ""},
		{"self-hosted allowed", func(c *provision.GitHubConfig) { c.SelfHostedRunners = true }, selfHosted, "dev"},
		{"foreign workflow refused by default", func(*provision.GitHubConfig) {}, foreign, ""},
		{"foreign workflow allowed", func(c *provision.GitHubConfig) { c.ForeignWorkflows = true }, foreign, "dev"},
		{"workflow pin matches", func(c *provision.GitHubConfig) { c.Workflows.Dev = ".github/workflows/deploy.yml" }, push, "dev"},
		{"workflow pin differs", func(c *provision.GitHubConfig) { c.Workflows.Dev = ".github/workflows/dev.yml" }, push, ""},
		{"release pin matches", func(c *provision.GitHubConfig) { c.Workflows.Release = ".github/workflows/deploy.yml" }, bareRelease, "release"},
		{"release environment required", func(c *provision.GitHubConfig) { c.ReleaseEnvironment = "release-gate" }, bareRelease, ""},
		{"release environment present", func(c *provision.GitHubConfig) { c.ReleaseEnvironment = "release-gate" }, release, "release"},
		{"resume environment not trusted by default", func(*provision.GitHubConfig) {}, resume, ""},
		{"resume environment trusted", func(c *provision.GitHubConfig) { c.PromoteEnvironments = []string{"production-resume"} }, resume, "promote"},
		{"other dev branch", func(c *provision.GitHubConfig) { c.DevBranch = "trunk" }, push, ""},
		{"custom tag pattern", func(c *provision.GitHubConfig) { c.ReleaseTagPattern = `^release-[0-9]+$` }, bareRelease, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := testConfig()
			tt.edit(&c)
			s := mustSetup(c)
			r, err := provision.Simulate(s, tt.claims)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if r.Accepted {
				got = r.Mapping.Attributes["attribute.stage"]
			}
			if got != tt.want {
				t.Errorf("stage %q (reason %q), want %q", got, r.Reason, tt.want)
			}
			if fs := provision.Lint(s); tt.name == "self-hosted allowed" || tt.name == "foreign workflow allowed" {
				if len(fs) == 0 {
					t.Errorf("Lint of a setup with %s found nothing, want the probe reported", tt.name)
				}
			}
		})
	}
	c := testConfig()
	c.ReleaseTagPattern = `^a|^b`
	if _, err := provision.GitHubSetup(c); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("GitHubSetup with an unconvertible tag pattern = %v, want ErrInvalid", err)
	}
}
