package emulator

import (
	"encoding/base64"
	"testing"

	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage/fake/emulation"
)

type member string

func (m member) Matches(s string) bool { return s == string(m) }

func TestRoleGrants(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		role, perm string
		want       bool
	}{
		{"roles/run.developer", "run.services.update", true},
		{"roles/run.developer", "run.services.setIamPolicy", false},
		{"roles/run.admin", "run.services.setIamPolicy", true},
		{"roles/run.viewer", "run.services.update", false},
		{"roles/artifactregistry.reader", "artifactregistry.repositories.downloadArtifacts", true},
		{"roles/artifactregistry.reader", "artifactregistry.repositories.uploadArtifacts", false},
		{"roles/artifactregistry.writer", "artifactregistry.repositories.uploadArtifacts", true},
		{"roles/artifactregistry.repoAdmin", "artifactregistry.tags.delete", true},
		{"roles/editor", "run.services.update", true},
		{"roles/editor", "run.services.setIamPolicy", false},
		{"roles/viewer", "run.services.get", true},
		{"roles/viewer", "run.services.update", false},
		{"roles/owner", "anything.at.all", true},
		{"roles/monitoring.viewer", "monitoring.timeSeries.list", true},
		{"roles/unknown", "run.services.get", false},
	} {
		if got := RoleGrants(tc.role, tc.perm); got != tc.want {
			t.Errorf("RoleGrants(%s, %s) = %v, want %v", tc.role, tc.perm, got, tc.want)
		}
	}
}

// TestAuthzCheck: no token is the owner (or UNAUTHENTICATED when strict),
// an unknown token UNAUTHENTICATED, a token without the role
// PERMISSION_DENIED in IAM's words, the project's binding inherited,
// Basic credentials (a registry client's) read like a bearer token.
func TestAuthzCheck(t *testing.T) {
	t.Parallel()
	svc := "projects/p/locations/l/services/s"
	a := &Authz{
		IAM: emulation.IAM{
			Resolve: func(tok string) (emulation.Principal, bool) { return member("user:" + tok), tok != "expired" },
			Policy: func(r string) *iampb.Policy {
				if r == "projects/p" {
					return &iampb.Policy{Bindings: []*iampb.Binding{{Role: "roles/run.viewer", Members: []string{"user:viewer"}}}}
				}
				return nil
			},
		},
		Policy: func(r string) *iampb.Policy {
			if r == svc {
				return &iampb.Policy{Bindings: []*iampb.Binding{{Role: "roles/run.developer", Members: []string{"user:dev"}}}}
			}
			return nil
		},
	}
	update := []Need{{Permission: "run.services.update", Resource: svc}}
	get := []Need{{Permission: "run.services.get", Resource: svc}}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("oauth2accesstoken:dev"))
	for _, tc := range []struct {
		auth  string
		needs []Need
		want  codes.Code
	}{
		{"", update, codes.OK},
		{"Bearer dev", update, codes.OK},
		{basic, update, codes.OK},
		{"Bearer viewer", get, codes.OK}, // inherited from the project
		{"Bearer viewer", update, codes.PermissionDenied},
		{"Bearer expired", get, codes.Unauthenticated},
	} {
		err := a.Check(tc.auth, tc.needs)
		if status.Code(err) != tc.want {
			t.Errorf("Check(%q, %v) = %v, want %v", tc.auth, tc.needs, err, tc.want)
		}
		if tc.want == codes.PermissionDenied && status.Convert(err).Message() != "Permission 'run.services.update' denied on resource '"+svc+"' (or it may not exist)." {
			t.Errorf("denial message %q", status.Convert(err).Message())
		}
	}
	a.IAM.Strict = true
	if err := a.Check("", get); status.Code(err) != codes.Unauthenticated {
		t.Errorf("strict, no token = %v, want UNAUTHENTICATED", err)
	}
}
