package resourcemanagerfake_test

import (
	"context"
	"testing"
	"unicode/utf8"

	"cloud.google.com/go/iam/apiv1/iampb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/type/expr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
)

// FuzzSetIamPolicy writes arbitrary bindings: the emulator answers OK or
// INVALID_ARGUMENT, and what it accepts reads back unchanged.
func FuzzSetIamPolicy(f *testing.F) {
	f.Add(int32(1), "roles/viewer", "user:a@example.com", "")
	f.Add(int32(3), "roles/editor", "principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/*", "request.time < timestamp('2030-01-01T00:00:00Z')")
	f.Add(int32(1), "roles/viewer", "allUsers", "")
	f.Add(int32(2), "viewer", "", "true")
	f.Fuzz(func(t *testing.T, version int32, role, member, cond string) {
		// Proto strings must be UTF-8: the client refuses to send them. Each
		// string on its own (two invalid halves can concatenate to valid).
		if !utf8.ValidString(role) || !utf8.ValidString(member) || !utf8.ValidString(cond) {
			return
		}
		srv, c := newClient(t)
		b := &iampb.Binding{Role: role}
		if member != "" {
			b.Members = []string{member}
		}
		if cond != "" {
			b.Condition = &expr.Expr{Expression: cond}
		}
		p := &iampb.Policy{Version: version, Bindings: []*iampb.Binding{b}}
		_, err := c.SetIamPolicy(context.Background(), &iampb.SetIamPolicyRequest{Resource: "projects/my-proj", Policy: p})
		switch status.Code(err) {
		case codes.OK:
			if diff := cmp.Diff(p.Bindings, srv.Policy("projects/my-proj").Bindings, protocmp.Transform()); diff != "" {
				t.Fatalf("stored bindings mismatch (-want +got):\n%s", diff)
			}
		case codes.InvalidArgument:
		default:
			t.Fatalf("SetIamPolicy = %v, want OK or INVALID_ARGUMENT", err)
		}
	})
}
