package wif

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage"
)

const testPoolBase = "projects/123456789012/locations/global/workloadIdentityPools/github"

var testPool = Pool{Project: "my-project", ProjectNumber: "123456789012", ID: "github"}

func TestParsePrincipal(t *testing.T) {
	t.Parallel()
	ref := Pool{ProjectNumber: "123456789012", ID: "github"}
	tests := []struct {
		in   string
		want Principal
	}{
		{"principal://iam.googleapis.com/" + testPoolBase + "/subject/repo:42:run:7:1",
			Principal{Kind: KindSubject, Pool: ref, Subject: "repo:42:run:7:1"}},
		{"principal://iam.googleapis.com/" + testPoolBase + "/subject/repo:octo/app:ref:refs/heads/main",
			Principal{Kind: KindSubject, Pool: ref, Subject: "repo:octo/app:ref:refs/heads/main"}},
		{"principalSet://iam.googleapis.com/" + testPoolBase + "/attribute.repository_id/42",
			Principal{Kind: KindAttribute, Pool: ref, Attribute: "repository_id", Value: "42"}},
		{"principalSet://iam.googleapis.com/" + testPoolBase + "/attribute.repository/octo/app",
			Principal{Kind: KindAttribute, Pool: ref, Attribute: "repository", Value: "octo/app"}},
		{"principalSet://iam.googleapis.com/" + testPoolBase + "/group/deployers",
			Principal{Kind: KindGroup, Pool: ref, Value: "deployers"}},
		{"principalSet://iam.googleapis.com/" + testPoolBase + "/*",
			Principal{Kind: KindAll, Pool: ref}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePrincipal(tt.in)
			if err != nil {
				t.Fatalf("ParsePrincipal(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParsePrincipal(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
			if s := got.String(); s != tt.in {
				t.Errorf("String() = %q, want %q", s, tt.in)
			}
			if got.Wildcard() != (tt.want.Kind == KindAll) {
				t.Errorf("Wildcard() = %v for %q", got.Wildcard(), tt.in)
			}
			if got.Kind.IsSet() != strings.HasPrefix(tt.in, "principalSet://") {
				t.Errorf("Kind.IsSet() = %v for %q", got.Kind.IsSet(), tt.in)
			}
		})
	}
}

func TestParsePrincipalErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, mention string
	}{
		{"", "want prefix"},
		{"user:alice@example.com", "want prefix"},
		{"principal://iam.googleapis.com/projects/123/locations/global", "workloadIdentityPools/POOL"},
		{"principal://iam.googleapis.com/projects/my-project/locations/global/workloadIdentityPools/github/subject/x", `project "my-project" is not a project number`},
		{"principal://iam.googleapis.com/projects/123/locations/us-east1/workloadIdentityPools/github/subject/x", `location "us-east1"`},
		{"principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/gh/subject/x", `pool ID "gh"`},
		{"principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/gcp-pool/subject/x", "reserved"},
		{"principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/GitHub/subject/x", `has 'G'`},
		{"principal://iam.googleapis.com/" + testPoolBase + "/subject/", "subject is empty"},
		{"principal://iam.googleapis.com/" + testPoolBase + "/subject/" + strings.Repeat("s", 128), "128 bytes, more than 127"},
		{"principal://iam.googleapis.com/" + testPoolBase + "/attribute.ref/x", "end in subject/SUBJECT"},
		{"principal://iam.googleapis.com/" + testPoolBase + "/subject/a\nb", "control character"},
		{"principalSet://iam.googleapis.com/" + testPoolBase + "/subject/x", "attribute.NAME/VALUE, group/GROUP or *"},
		{"principalSet://iam.googleapis.com/" + testPoolBase + "/attribute.repository_id", "no /VALUE"},
		{"principalSet://iam.googleapis.com/" + testPoolBase + "/attribute.repository_id/", "attribute value is empty"},
		{"principalSet://iam.googleapis.com/" + testPoolBase + "/attribute.Repo/x", `attribute name "Repo"`},
		{"principalSet://iam.googleapis.com/" + testPoolBase + "/group/", "group is empty"},
		{"principalSet://iam.googleapis.com/" + testPoolBase + "/**", "attribute.NAME/VALUE, group/GROUP or *"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			_, err := ParsePrincipal(tt.in)
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Fatalf("ParsePrincipal(%q) error = %v, want ErrInvalid", tt.in, err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("ParsePrincipal(%q) error = %q, want it to mention %q", tt.in, err, tt.mention)
			}
		})
	}
}

func TestPrincipalBuilders(t *testing.T) {
	t.Parallel()
	repo := GitHubRepo{Owner: "octo", Name: "app", OwnerID: "9919", ID: "42"}
	tests := []struct {
		p    Principal
		want string
	}{
		{SubjectPrincipal(testPool, "repo:42:run:7:1"), "principal://iam.googleapis.com/" + testPoolBase + "/subject/repo:42:run:7:1"},
		{AttributePrincipal(testPool, "repository_id", "42"), "principalSet://iam.googleapis.com/" + testPoolBase + "/attribute.repository_id/42"},
		{AttributePrincipal(testPool, "attribute.ref", "refs/heads/main"), "principalSet://iam.googleapis.com/" + testPoolBase + "/attribute.ref/refs/heads/main"},
		{RepositoryPrincipal(testPool, repo), "principalSet://iam.googleapis.com/" + testPoolBase + "/attribute.repository_id/42"},
		{GroupPrincipal(testPool, "deployers"), "principalSet://iam.googleapis.com/" + testPoolBase + "/group/deployers"},
		{AllPrincipals(testPool), "principalSet://iam.googleapis.com/" + testPoolBase + "/*"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
		back, err := ParsePrincipal(tt.want)
		if err != nil {
			t.Fatalf("ParsePrincipal(%q): %v", tt.want, err)
		}
		if diff := cmp.Diff(tt.p, back); diff != "" {
			t.Errorf("ParsePrincipal(String()) mismatch (-want +got):\n%s", diff)
		}
	}
	if err := (Principal{Kind: "user", Pool: testPool}).Validate(); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("Validate of an unknown kind = %v, want ErrInvalid", err)
	}
}

func TestResourceNames(t *testing.T) {
	t.Parallel()
	prov := GitHubProvider(testPool, "github-actions", GitHubRepo{OwnerID: "1", ID: "2"})
	if got, want := testPool.Name(), testPoolBase; got != want {
		t.Errorf("Pool.Name() = %q, want %q", got, want)
	}
	if got, want := prov.Name(), testPoolBase+"/providers/github-actions"; got != want {
		t.Errorf("Provider.Name() = %q, want %q", got, want)
	}
	if got, want := prov.Audience(), "//iam.googleapis.com/"+testPoolBase+"/providers/github-actions"; got != want {
		t.Errorf("Audience() = %q, want %q", got, want)
	}
	if got, want := prov.DefaultTokenAudience(), "https://iam.googleapis.com/"+testPoolBase+"/providers/github-actions"; got != want {
		t.Errorf("DefaultTokenAudience() = %q, want %q", got, want)
	}
	for _, aud := range []string{prov.Audience(), prov.DefaultTokenAudience()} {
		got, err := ParseAudience(aud)
		if err != nil {
			t.Fatalf("ParseAudience(%q): %v", aud, err)
		}
		want := Provider{Pool: Pool{ProjectNumber: "123456789012", ID: "github"}, ID: "github-actions"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ParseAudience(%q) mismatch (-want +got):\n%s", aud, diff)
		}
	}
	pool, err := ParsePoolName(testPoolBase)
	if err != nil || pool.Name() != testPoolBase {
		t.Errorf("ParsePoolName(%q) = %+v, %v", testPoolBase, pool, err)
	}
	// Without a number, Project stands in.
	if got, want := (Pool{Project: "987", ID: "pool-1"}).Name(), "projects/987/locations/global/workloadIdentityPools/pool-1"; got != want {
		t.Errorf("Pool.Name() = %q, want %q", got, want)
	}
	for _, bad := range []string{
		"", "projects/1/locations/global/workloadIdentityPools", "projects/x/locations/global/workloadIdentityPools/pool-1",
		"projects/1/locations/eu/workloadIdentityPools/pool-1", "projects/1/locations/global/workloadIdentityPools/p",
	} {
		if _, err := ParsePoolName(bad); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("ParsePoolName(%q) error = %v, want ErrInvalid", bad, err)
		}
	}
	for _, bad := range []string{
		"https://sts.googleapis.com/" + testPoolBase + "/providers/github-actions",
		"//iam.googleapis.com/" + testPoolBase,
		"//iam.googleapis.com/" + testPoolBase + "/providers/gh",
		"//iam.googleapis.com/" + testPoolBase + "/providers/github-actions/x",
	} {
		if _, err := ParseAudience(bad); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("ParseAudience(%q) error = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestValidateIDs(t *testing.T) {
	t.Parallel()
	for id, ok := range map[string]bool{
		"abcd": true, "github-actions": true, strings.Repeat("a", 32): true, "a-1-b": true,
		"abc": false, strings.Repeat("a", 33): false, "gcp-pool": false, "GitHub": false, "my_pool": false, "": false,
	} {
		if err := ValidatePoolID(id); (err == nil) != ok {
			t.Errorf("ValidatePoolID(%q) = %v, want ok=%v", id, err, ok)
		}
		if err := ValidateProviderID(id); (err == nil) != ok {
			t.Errorf("ValidateProviderID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
}

func FuzzParsePrincipal(f *testing.F) {
	for _, s := range []string{
		"principal://iam.googleapis.com/" + testPoolBase + "/subject/repo:42:run:7:1",
		"principalSet://iam.googleapis.com/" + testPoolBase + "/attribute.repository_id/42",
		"principalSet://iam.googleapis.com/" + testPoolBase + "/attribute.repository/octo/app",
		"principalSet://iam.googleapis.com/" + testPoolBase + "/group/deployers",
		"principalSet://iam.googleapis.com/" + testPoolBase + "/*",
		"principal://iam.googleapis.com/projects/1/locations/eu/workloadIdentityPools/pool/subject/x",
		"user:someone@example.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrincipal(s)
		if err != nil {
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Fatalf("ParsePrincipal(%q) error %v does not match ErrInvalid", s, err)
			}
			return
		}
		if got := p.String(); got != s {
			t.Fatalf("ParsePrincipal(%q).String() = %q", s, got)
		}
		back, err := ParsePrincipal(p.String())
		if err != nil {
			t.Fatalf("ParsePrincipal(String()) of %q: %v", s, err)
		}
		if diff := cmp.Diff(p, back); diff != "" {
			t.Fatalf("round trip of %q mismatch (-want +got):\n%s", s, diff)
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Validate() of parsed %q: %v", s, err)
		}
	})
}

func FuzzParseAudience(f *testing.F) {
	f.Add("//iam.googleapis.com/" + testPoolBase + "/providers/github-actions")
	f.Add("https://iam.googleapis.com/" + testPoolBase + "/providers/github-actions")
	f.Add("//iam.googleapis.com/projects/x/locations/global/workloadIdentityPools/p/providers/q")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseAudience(s)
		if err != nil {
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Fatalf("ParseAudience(%q) error %v does not match ErrInvalid", s, err)
			}
			return
		}
		if p.Audience() != s && p.DefaultTokenAudience() != s {
			t.Fatalf("ParseAudience(%q) = %+v, which prints as %q", s, p, p.Audience())
		}
	})
}

func BenchmarkParsePrincipal(b *testing.B) {
	s := "principalSet://iam.googleapis.com/" + testPoolBase + "/attribute.repository_id/74"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePrincipal(s); err != nil {
			b.Fatal(err)
		}
	}
}
