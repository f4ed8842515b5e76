package provision

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/wif"
)

const testPoolBase = "projects/123456789012/locations/global/workloadIdentityPools/github"

var (
	testPool = wif.Pool{Project: "my-project", ProjectNumber: "123456789012", ID: "github"}
	testRepo = wif.GitHubRepo{Owner: "octo-org", Name: "octo-repo", OwnerID: "65", ID: "74"}
)

// TestGitHubProviderCompiles checks that every default mapping key of
// wif.GitHubProvider is valid and every expression compiles.
func TestGitHubProviderCompiles(t *testing.T) {
	t.Parallel()
	p := wif.GitHubProvider(testPool, "github-actions", testRepo)
	if _, err := Evaluate(p, githubClaims(nil)); err != nil {
		t.Errorf("Evaluate of the default provider: %v", err)
	}
}

// TestGitHubSubjectBound checks the bound the doc of GitHubAttributeMapping
// promises: with the largest realistic IDs (20 digits; GitHub's are 64-bit
// integers) and long names the subject stays under 70 bytes.
func TestGitHubSubjectBound(t *testing.T) {
	t.Parallel()
	p := wif.GitHubProvider(testPool, "github-actions", testRepo)
	p.AttributeCondition = "" // measure the mapping alone
	c := githubClaims(map[string]any{
		"repository_id": strings.Repeat("9", 20), "run_id": strings.Repeat("9", 20), "run_attempt": strings.Repeat("9", 5),
		"sub":        "repo:" + strings.Repeat("o", 39) + "/" + strings.Repeat("r", 100) + ":environment:" + strings.Repeat("e", 255),
		"repository": strings.Repeat("o", 39) + "/" + strings.Repeat("r", 100),
	})
	m, err := Evaluate(p, c)
	if err != nil || !m.Accepted {
		t.Fatalf("Evaluate = %+v, %v", m, err)
	}
	if n := len(m.Subject()); n >= 70 {
		t.Errorf("google.subject %q is %d bytes, want < 70", m.Subject(), n)
	}
}

// githubClaims returns the claims of a GitHub Actions token for a push to
// main of testRepo, after the example in GitHub's "About security
// hardening with OpenID Connect", changed by the edits.
func githubClaims(edits map[string]any) wif.Claims {
	c := wif.Claims{
		"jti":                   "example-id",
		"sub":                   "repo:octo-org/octo-repo:ref:refs/heads/main",
		"aud":                   "https://iam.googleapis.com/" + testPoolBase + "/providers/github-actions",
		"ref":                   "refs/heads/main",
		"sha":                   "example-sha",
		"repository":            "octo-org/octo-repo",
		"repository_owner":      "octo-org",
		"repository_owner_id":   "65",
		"repository_id":         "74",
		"repository_visibility": "private",
		"actor":                 "octocat",
		"actor_id":              "12",
		"run_id":                "1234567890",
		"run_number":            "10",
		"run_attempt":           "2",
		"runner_environment":    "github-hosted",
		"workflow":              "deploy",
		"workflow_ref":          "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main",
		"job_workflow_ref":      "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main",
		"event_name":            "push",
		"ref_type":              "branch",
		"head_ref":              "",
		"base_ref":              "",
		"iss":                   wif.GitHubIssuer,
		"iat":                   float64(1767225600),
		"nbf":                   float64(1767225600),
		"exp":                   float64(1767225900),
	}
	for k, v := range edits {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

func TestEvaluateGitHubProvider(t *testing.T) {
	t.Parallel()
	prov := wif.GitHubProvider(testPool, "github-actions", testRepo)
	mapped := func(edits map[string]string) map[string]string {
		m := map[string]string{
			"google.subject":                "repo:74:run:1234567890:2",
			"attribute.repository":          "octo-org/octo-repo",
			"attribute.repository_id":       "74",
			"attribute.repository_owner_id": "65",
			"attribute.ref":                 "refs/heads/main",
			"attribute.ref_type":            "branch",
			"attribute.workflow_ref":        "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main",
			"attribute.actor_id":            "12",
			"attribute.event_name":          "push",
		}
		maps.Copy(m, edits)
		return m
	}
	tests := []struct {
		name   string
		claims wif.Claims
		want   Mapping
	}{{
		name:   "push to main",
		claims: githubClaims(nil),
		want:   Mapping{Attributes: mapped(nil), Accepted: true},
	}, {
		name: "push of a tag",
		claims: githubClaims(map[string]any{
			"sub": "repo:octo-org/octo-repo:ref:refs/tags/v1.4.2", "ref": "refs/tags/v1.4.2", "ref_type": "tag",
			"workflow_ref": "octo-org/octo-repo/.github/workflows/release.yml@refs/tags/v1.4.2",
		}),
		want: Mapping{Attributes: mapped(map[string]string{
			"attribute.ref": "refs/tags/v1.4.2", "attribute.ref_type": "tag",
			"attribute.workflow_ref": "octo-org/octo-repo/.github/workflows/release.yml@refs/tags/v1.4.2",
		}), Accepted: true},
	}, {
		// A fork's own workflows run in the fork, whose repository_id
		// differs: refused even though the name looks alike.
		name: "pull request from a fork, run in the fork",
		claims: githubClaims(map[string]any{
			"sub": "repo:mallory/octo-repo:pull_request", "repository": "mallory/octo-repo", "repository_owner": "mallory",
			"repository_owner_id": "666", "repository_id": "667", "event_name": "pull_request", "ref": "refs/pull/7/merge",
			"workflow_ref": "mallory/octo-repo/.github/workflows/deploy.yml@refs/pull/7/merge",
		}),
		want: Mapping{Attributes: mapped(map[string]string{
			"google.subject": "repo:667:run:1234567890:2", "attribute.repository": "mallory/octo-repo",
			"attribute.repository_owner_id": "666", "attribute.repository_id": "667", "attribute.event_name": "pull_request",
			"attribute.ref": "refs/pull/7/merge", "attribute.workflow_ref": "mallory/octo-repo/.github/workflows/deploy.yml@refs/pull/7/merge",
		}), Reason: ReasonConditionRejected},
	}, {
		// pull_request_target runs the BASE repository's workflow in the
		// base repository, so the ID condition accepts it: bindings that
		// deploy must also pin attribute.ref or attribute.event_name.
		name: "pull request from a fork, pull_request_target in the base repository",
		claims: githubClaims(map[string]any{
			"sub": "repo:octo-org/octo-repo:pull_request", "event_name": "pull_request_target",
			"head_ref": "mallory:patch-1", "base_ref": "main",
		}),
		want: Mapping{Attributes: mapped(map[string]string{"attribute.event_name": "pull_request_target"}), Accepted: true},
	}, {
		name: "another repository of the same owner",
		claims: githubClaims(map[string]any{
			"sub": "repo:octo-org/other:ref:refs/heads/main", "repository": "octo-org/other", "repository_id": "75",
			"workflow_ref": "octo-org/other/.github/workflows/deploy.yml@refs/heads/main",
		}),
		want: Mapping{Attributes: mapped(map[string]string{
			"google.subject": "repo:75:run:1234567890:2", "attribute.repository": "octo-org/other", "attribute.repository_id": "75",
			"attribute.workflow_ref": "octo-org/other/.github/workflows/deploy.yml@refs/heads/main",
		}), Reason: ReasonConditionRejected},
	}, {
		name: "a repository of the same name under a re-registered owner",
		claims: githubClaims(map[string]any{
			"repository_owner_id": "999", "repository_id": "1000",
		}),
		want: Mapping{Attributes: mapped(map[string]string{
			"google.subject": "repo:1000:run:1234567890:2", "attribute.repository_owner_id": "999", "attribute.repository_id": "1000",
		}), Reason: ReasonConditionRejected},
	}, {
		name: "renamed repository keeps its ID",
		claims: githubClaims(map[string]any{
			"sub": "repo:octo-org/renamed:ref:refs/heads/main", "repository": "octo-org/renamed",
			"workflow_ref": "octo-org/renamed/.github/workflows/deploy.yml@refs/heads/main",
		}),
		want: Mapping{Attributes: mapped(map[string]string{
			"attribute.repository":   "octo-org/renamed",
			"attribute.workflow_ref": "octo-org/renamed/.github/workflows/deploy.yml@refs/heads/main",
		}), Accepted: true},
	}, {
		// The default subject does not grow with names, so a long
		// repository and environment name still fit in 127 bytes.
		name: "long repository and environment names",
		claims: githubClaims(map[string]any{
			"sub":        "repo:octo-org/" + strings.Repeat("r", 100) + ":environment:" + strings.Repeat("e", 60),
			"repository": "octo-org/" + strings.Repeat("r", 100), "environment": strings.Repeat("e", 60),
		}),
		want: Mapping{Attributes: mapped(map[string]string{"attribute.repository": "octo-org/" + strings.Repeat("r", 100)}), Accepted: true},
	}, {
		name:   "a token without repository_id",
		claims: githubClaims(map[string]any{"repository_id": nil}),
		// Keys evaluate in sorted order; the first that reads
		// repository_id fails.
		want: Mapping{Attributes: map[string]string{
			"attribute.actor_id": "12", "attribute.event_name": "push", "attribute.ref": "refs/heads/main",
			"attribute.ref_type": "branch", "attribute.repository": "octo-org/octo-repo",
		}, Reason: `attribute mapping "attribute.repository_id" = "assertion.repository_id" failed: no such key: repository_id`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Evaluate(prov, tt.claims)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Evaluate mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateMapping(t *testing.T) {
	t.Parallel()
	base := wif.Provider{Pool: testPool, ID: "github-actions"}
	with := func(mapping map[string]string, cond string) wif.Provider {
		p := base
		p.AttributeMapping = mapping
		p.AttributeCondition = cond
		return p
	}
	tests := []struct {
		name   string
		p      wif.Provider
		claims wif.Claims
		want   Mapping
	}{{
		name:   "sub as subject, condition on attribute and google",
		p:      with(map[string]string{"google.subject": "assertion.sub", "attribute.env": "assertion.environment"}, `attribute.env == "prod" && google.subject.startsWith("repo:octo-org/")`),
		claims: wif.Claims{"sub": "repo:octo-org/app:environment:prod", "environment": "prod"},
		want:   Mapping{Attributes: map[string]string{"google.subject": "repo:octo-org/app:environment:prod", "attribute.env": "prod"}, Accepted: true},
	}, {
		name:   "condition false",
		p:      with(map[string]string{"google.subject": "assertion.sub", "attribute.env": "assertion.environment"}, `attribute.env == "prod"`),
		claims: wif.Claims{"sub": "s", "environment": "staging"},
		want:   Mapping{Attributes: map[string]string{"google.subject": "s", "attribute.env": "staging"}, Reason: ReasonConditionRejected},
	}, {
		name:   "sub longer than 127 bytes",
		p:      with(map[string]string{"google.subject": "assertion.sub"}, ""),
		claims: wif.Claims{"sub": "repo:octo-org/" + strings.Repeat("r", 100) + ":environment:production"},
		want: Mapping{Attributes: map[string]string{"google.subject": "repo:octo-org/" + strings.Repeat("r", 100) + ":environment:production"},
			Reason: "google.subject is 137 bytes, more than 127"},
	}, {
		name:   "exactly 127 bytes",
		p:      with(map[string]string{"google.subject": "assertion.sub"}, ""),
		claims: wif.Claims{"sub": strings.Repeat("s", 127)},
		want:   Mapping{Attributes: map[string]string{"google.subject": strings.Repeat("s", 127)}, Accepted: true},
	}, {
		name:   "empty subject",
		p:      with(map[string]string{"google.subject": "assertion.sub"}, ""),
		claims: wif.Claims{"sub": ""},
		want:   Mapping{Attributes: map[string]string{"google.subject": ""}, Reason: "google.subject is empty"},
	}, {
		name:   "groups from a list",
		p:      with(map[string]string{"google.subject": "assertion.sub", "google.groups": "assertion.teams"}, `"deployers" in google.groups`),
		claims: wif.Claims{"sub": "s", "teams": []any{"devs", "deployers"}},
		want:   Mapping{Attributes: map[string]string{"google.subject": "s"}, Groups: []string{"devs", "deployers"}, Accepted: true},
	}, {
		name:   "groups from a single string",
		p:      with(map[string]string{"google.subject": "assertion.sub", "google.groups": "assertion.team"}, ""),
		claims: wif.Claims{"sub": "s", "team": "devs"},
		want:   Mapping{Attributes: map[string]string{"google.subject": "s"}, Groups: []string{"devs"}, Accepted: true},
	}, {
		name:   "number attribute refused",
		p:      with(map[string]string{"google.subject": "assertion.sub", "attribute.n": "assertion.n"}, ""),
		claims: wif.Claims{"sub": "s", "n": float64(3)},
		want:   Mapping{Attributes: map[string]string{}, Reason: `attribute mapping "attribute.n" = "assertion.n" gave double, not a string`},
	}, {
		name:   "condition on a missing claim",
		p:      with(map[string]string{"google.subject": "assertion.sub"}, `assertion.environment == "prod"`),
		claims: wif.Claims{"sub": "s"},
		want:   Mapping{Attributes: map[string]string{"google.subject": "s"}, Reason: "attribute condition failed: no such key: environment"},
	}, {
		name:   "condition guarded with has",
		p:      with(map[string]string{"google.subject": "assertion.sub"}, `has(assertion.environment) && assertion.environment == "prod"`),
		claims: wif.Claims{"sub": "s"},
		want:   Mapping{Attributes: map[string]string{"google.subject": "s"}, Reason: ReasonConditionRejected},
	}, {
		name:   "condition of dyn type that is not a bool",
		p:      with(map[string]string{"google.subject": "assertion.sub"}, `assertion.sub`),
		claims: wif.Claims{"sub": "s"},
		want:   Mapping{Attributes: map[string]string{"google.subject": "s"}, Reason: "attribute condition gave string, not a bool"},
	}, {
		name:   "extract",
		p:      with(map[string]string{"google.subject": "assertion.sub", "attribute.repo": "assertion.sub.extract('repo:{repo}:')", "attribute.env": "assertion.sub.extract(':environment:{env}')"}, `attribute.repo == "octo-org/app"`),
		claims: wif.Claims{"sub": "repo:octo-org/app:environment:prod"},
		want:   Mapping{Attributes: map[string]string{"google.subject": "repo:octo-org/app:environment:prod", "attribute.repo": "octo-org/app", "attribute.env": "prod"}, Accepted: true},
	}, {
		name:   "nil claims",
		p:      with(map[string]string{"google.subject": "'fixed'"}, ""),
		claims: nil,
		want:   Mapping{Attributes: map[string]string{"google.subject": "fixed"}, Accepted: true},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Evaluate(tt.p, tt.claims)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Evaluate mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateInvalidProvider(t *testing.T) {
	t.Parallel()
	many := map[string]string{"google.subject": "assertion.sub"}
	for i := range 51 {
		many["attribute.a"+strings.Repeat("x", i)] = "assertion.sub"
	}
	tests := []struct {
		name    string
		mapping map[string]string
		cond    string
		mention string
	}{
		{"no subject", map[string]string{"attribute.ref": "assertion.ref"}, "", "no google.subject"},
		{"nil mapping", nil, "", "no google.subject"},
		{"syntax error in mapping", map[string]string{"google.subject": "assertion.sub +"}, "", `"google.subject" = "assertion.sub +"`},
		{"syntax error in condition", map[string]string{"google.subject": "assertion.sub"}, "assertion.ref ==", `attribute condition "assertion.ref =="`},
		{"unknown function", map[string]string{"google.subject": "assertion.sub.frobnicate()"}, "", "frobnicate"},
		{"mapping reads google", map[string]string{"google.subject": "assertion.sub", "attribute.x": "google.subject"}, "", "may only refer to assertion"},
		{"mapping of a bool", map[string]string{"google.subject": "true"}, "", "type bool, not string"},
		{"condition of a string", map[string]string{"google.subject": "assertion.sub"}, `"yes"`, "type string, not bool"},
		{"condition on an unknown variable", map[string]string{"google.subject": "assertion.sub"}, `request.time > 0`, "undeclared reference"},
		{"bad key", map[string]string{"google.subject": "assertion.sub", "subject": "assertion.sub"}, "", `key "subject"`},
		{"bad attribute name", map[string]string{"google.subject": "assertion.sub", "attribute.Repo": "assertion.repository"}, "", `"attribute.Repo"`},
		{"attribute name too long", map[string]string{"google.subject": "assertion.sub", "attribute." + strings.Repeat("a", 101): "assertion.sub"}, "", "1 to 100 characters"},
		{"empty expression", map[string]string{"google.subject": " "}, "", "empty expression"},
		{"too many attributes", many, "", "51 custom attributes, more than 50"},
		{"condition too long", map[string]string{"google.subject": "assertion.sub"}, "true" + strings.Repeat(" ", 4093), "4097 characters, more than 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := wif.Provider{Pool: testPool, ID: "github-actions", AttributeMapping: tt.mapping, AttributeCondition: tt.cond}
			_, err := Evaluate(p, wif.Claims{"sub": "s"})
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Fatalf("Evaluate error = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("Evaluate error = %q, want it to mention %q", err, tt.mention)
			}
		})
	}
}

func TestGitHubConditionQuotes(t *testing.T) {
	t.Parallel()
	// IDs are digits in practice; anything else must stay a literal.
	repo := wif.GitHubRepo{OwnerID: `1" || true || "`, ID: "2\\"}
	p := wif.GitHubProvider(testPool, "github-actions", repo)
	m, err := Evaluate(p, githubClaims(nil))
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	if m.Accepted {
		t.Errorf("a condition built from hostile IDs accepted an unrelated token: %s", p.AttributeCondition)
	}
	empty := wif.GitHubProvider(testPool, "github-actions", wif.GitHubRepo{})
	if m, err := Evaluate(empty, githubClaims(nil)); err != nil || m.Accepted {
		t.Errorf("Evaluate with empty IDs = %+v, %v; want a refusal", m, err)
	}
}

func TestExtract(t *testing.T) {
	t.Parallel()
	tests := []struct{ s, tmpl, want string }{
		{"repo:octo-org/app:ref:refs/heads/main", "repo:{repo}:", "octo-org/app"},
		{"repo:octo-org/app:ref:refs/heads/main", ":ref:{ref}", "refs/heads/main"},
		{"user@example.com", "{user}@example.com", "user"},
		{"repo:a", "repo:{repo}:", ""},
		{"other", "repo:{repo}", ""},
		{"x", "no placeholder", ""},
		{"x", "}{", ""},
	}
	for _, tt := range tests {
		if got := extract(tt.s, tt.tmpl); got != tt.want {
			t.Errorf("extract(%q, %q) = %q, want %q", tt.s, tt.tmpl, got, tt.want)
		}
	}
}

func BenchmarkEvaluateGitHubProvider(b *testing.B) {
	p := wif.GitHubProvider(testPool, "github-actions", testRepo)
	c := githubClaims(nil)
	b.ReportAllocs()
	for b.Loop() {
		if m, err := Evaluate(p, c); err != nil || !m.Accepted {
			b.Fatalf("Evaluate = %+v, %v", m, err)
		}
	}
}

func TestEvaluatorCache(t *testing.T) {
	t.Parallel()
	var e Evaluator
	p := wif.GitHubProvider(testPool, "github-actions", testRepo)
	other := wif.GitHubProvider(testPool, "github-actions", wif.GitHubRepo{OwnerID: "65", ID: "75"})
	for i := range 3 {
		for _, tt := range []struct {
			p    wif.Provider
			want bool
		}{{p, true}, {other, false}} {
			m, err := e.Evaluate(tt.p, githubClaims(nil))
			if err != nil || m.Accepted != tt.want {
				t.Fatalf("round %d: Evaluate = %+v, %v; want accepted=%v", i, m, err, tt.want)
			}
		}
	}
	// 9 mappings shared by both providers, 2 conditions.
	if n := len(e.progs); n != 11 {
		t.Errorf("cache holds %d programs, want 11", n)
	}
	bad := p
	bad.AttributeCondition = "assertion.x =="
	for range 2 {
		if _, err := e.Evaluate(bad, githubClaims(nil)); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("Evaluate of a bad condition = %v, want ErrInvalid (also from the cache)", err)
		}
	}
}

func BenchmarkEvaluatorCached(b *testing.B) {
	var e Evaluator
	p := wif.GitHubProvider(testPool, "github-actions", testRepo)
	c := githubClaims(nil)
	b.ReportAllocs()
	for b.Loop() {
		if m, err := e.Evaluate(p, c); err != nil || !m.Accepted {
			b.Fatalf("Evaluate = %+v, %v", m, err)
		}
	}
}
