package provision_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
)

// FuzzSetupValidate feeds arbitrary resources, roles and members to
// Setup.Validate: it must not panic, must fail only with ErrInvalid, and a
// setup it accepts must lint, simulate and render without panicking, with
// the member in the rendered outputs.
func FuzzSetupValidate(f *testing.F) {
	f.Add("run.service", "projects/p/locations/r/services/s", "roles/run.developer", "principalSet://"+poolBase+"attribute.stage/dev", "")
	f.Add("project", "projects/p", "roles/viewer", "user:a@example.com", "request.time < timestamp('2030-01-01T00:00:00Z')")
	f.Add("iam.serviceAccount", "projects/p/serviceAccounts/x@p.iam.gserviceaccount.com", "roles/iam.serviceAccountUser", "serviceAccount:y@p.iam.gserviceaccount.com", "")
	f.Add("artifactregistry.repository", "projects/p/locations/l/repositories/r", "roles/artifactregistry.writer", "principalSet://"+poolBase+"*", "")
	f.Add("run.service", "projects/p/locations/r/services/s", "roles/run.invoker", "allUsers", "")
	f.Add("project", "projects//x", "roles/", "principal://"+poolBase+"subject/a\"b$c", "")
	f.Fuzz(func(t *testing.T, kind, name, role, member, cond string) {
		s := testSetup()
		b := provision.Binding{Resource: provision.Resource{Kind: provision.ResourceKind(kind), Name: name}, Role: role, Member: member}
		if cond != "" {
			b.Condition = &provision.Expr{Title: "t", Expression: cond}
		}
		s.Bindings = append(s.Bindings, b)
		err := s.Validate()
		if err != nil {
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Fatalf("Validate() = %v, want ErrInvalid", err)
			}
			return
		}
		_ = provision.Lint(s)
		if _, err := provision.Simulate(s, wif.GitHubClaims(testRepo(), "push", "refs/heads/main")); err != nil {
			t.Fatalf("Simulate on a valid setup: %v", err)
		}
		if tf := provision.RenderTerraform(s); strings.Count(tf, "_iam_member\" ") != len(s.Bindings) {
			t.Fatalf("terraform has the wrong number of members:\n%s", tf)
		}
		if sh := provision.RenderGcloud(s); strings.Count(sh, "add-iam-policy-binding") != len(s.Bindings) {
			t.Fatalf("script has the wrong number of bindings:\n%s", sh)
		}
	})
}

// FuzzSimulate plays arbitrary claim values against the secure defaults:
// no panic; nothing is granted unless the token carries the repository's
// IDs and is not a pull request; dev only to a push to main; prod only to
// a push of a release tag or a promotion run on main.
func FuzzSimulate(f *testing.F) {
	f.Add("5000005", "1000001", "push", "refs/heads/main", "branch")
	f.Add("5000005", "1000001", "push", "refs/tags/v1.2.3", "tag")
	f.Add("5000005", "1000001", "pull_request", "refs/pull/1/merge", "branch")
	f.Add("5000777", "1000001", "push", "refs/heads/main", "branch")
	f.Add("5000005", "1000001", "push", "refs/tags/vEVIL", "tag")
	f.Add("5000005", "1000001", "workflow_run", "refs/heads/main", "branch")
	f.Add("", "", "", "", "")
	f.Fuzz(func(t *testing.T, repoID, ownerID, event, ref, refType string) {
		s := testSetup()
		c := wif.GitHubClaims(testRepo(), event, ref)
		c["repository_id"], c["repository_owner_id"], c["ref_type"] = repoID, ownerID, refType
		r, err := provision.Simulate(s, c)
		if err != nil {
			t.Fatalf("Simulate: %v", err)
		}
		if len(r.Bindings) == 0 {
			return
		}
		if repoID != "5000005" || ownerID != "1000001" || event == "pull_request" || event == "pull_request_target" {
			t.Fatalf("granted %v to repository %q owner %q event %q", r.Roles(), repoID, ownerID, event)
		}
		stage := r.Mapping.Attributes["attribute.stage"]
		for _, b := range r.Bindings {
			release := stage == provision.IdentityRelease && event == "push" && regexp.MustCompile(provision.DefaultReleaseTagPattern).MatchString(strings.TrimPrefix(c.String("ref"), "refs/tags/")) && strings.HasPrefix(c.String("ref"), "refs/tags/") && refType == "tag"
			promote := stage == provision.IdentityPromote && (event == "workflow_dispatch" || event == "schedule") && c.String("ref") == "refs/heads/main"
			if b.Resource.Stage == provision.StageProd && !release && !promote {
				t.Fatalf("prod binding %s granted for ref %q type %q", b, c.String("ref"), refType)
			}
			if b.Resource.Stage == provision.StageDev && (c.String("ref") != "refs/heads/main" || event != "push") {
				t.Fatalf("dev binding %s granted for ref %q", b, c.String("ref"))
			}
		}
	})
}
