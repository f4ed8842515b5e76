package wif

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

var testRepo = GitHubRepo{Owner: "octo-org", Name: "octo-repo", OwnerID: "65", ID: "74"}

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
