package wif

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGitHubProviderDefaults(t *testing.T) {
	t.Parallel()
	p := GitHubProvider(testPool, "github-actions", testRepo)
	if p.Issuer != GitHubIssuer || p.IssuerURI() != GitHubIssuer {
		t.Errorf("Issuer = %q, IssuerURI() = %q, want %q", p.Issuer, p.IssuerURI(), GitHubIssuer)
	}
	if got, want := p.AttributeCondition, `assertion.repository_owner_id == "65" && assertion.repository_id == "74"`; got != want {
		t.Errorf("AttributeCondition = %q, want %q", got, want)
	}
	if len(p.AllowedAudiences) != 0 {
		t.Errorf("AllowedAudiences = %q, want the default", p.AllowedAudiences)
	}
	want := []string{"https://iam.googleapis.com/" + p.Name(), "//iam.googleapis.com/" + p.Name()}
	if diff := cmp.Diff(want, p.TokenAudiences()); diff != "" {
		t.Errorf("TokenAudiences() mismatch (-want +got):\n%s", diff)
	}
	p.AllowedAudiences = []string{"custom"}
	if diff := cmp.Diff([]string{"custom"}, p.TokenAudiences()); diff != "" {
		t.Errorf("TokenAudiences() with AllowedAudiences mismatch (-want +got):\n%s", diff)
	}
	// Every default mapping key is valid and every expression compiles.
	if _, err := Evaluate(p, githubClaims(nil)); err != nil {
		t.Errorf("Evaluate of the default provider: %v", err)
	}
	// Each call returns a fresh map.
	m := GitHubAttributeMapping()
	m["google.subject"] = "assertion.sub"
	if GitHubAttributeMapping()["google.subject"] == "assertion.sub" {
		t.Errorf("GitHubAttributeMapping shares its map between calls")
	}
	if (Provider{}).IssuerURI() != GitHubIssuer {
		t.Errorf("the zero provider's IssuerURI is not GitHub's")
	}
}

// TestGitHubSubjectBound checks the bound the doc of GitHubAttributeMapping
// promises: with the largest realistic IDs (20 digits; GitHub's are 64-bit
// integers) and long names the subject stays under 70 bytes.
func TestGitHubSubjectBound(t *testing.T) {
	t.Parallel()
	p := GitHubProvider(testPool, "github-actions", testRepo)
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

func TestProviderClone(t *testing.T) {
	t.Parallel()
	p := GitHubProvider(testPool, "github-actions", testRepo)
	p.AllowedAudiences = []string{"a"}
	c := p.Clone()
	c.AllowedAudiences[0] = "b"
	c.AttributeMapping["google.subject"] = "x"
	if p.AllowedAudiences[0] != "a" || p.AttributeMapping["google.subject"] == "x" {
		t.Errorf("Clone shares state with the original")
	}
}

func TestCELString(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"74", `"74"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"a\nb", `"a\x0ab"`},
		{"é", `"é"`},
	}
	for _, tt := range tests {
		if got := celString(tt.in); got != tt.want {
			t.Errorf("celString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestClaimsAndRepoString(t *testing.T) {
	t.Parallel()
	c := Claims{"s": "x", "n": float64(1)}
	if c.String("s") != "x" || c.String("n") != "" || c.String("missing") != "" {
		t.Errorf("Claims.String gave unexpected values")
	}
	if got, want := testRepo.String(), "octo-org/octo-repo (id 74, owner id 65)"; got != want {
		t.Errorf("GitHubRepo.String() = %q, want %q", got, want)
	}
}
