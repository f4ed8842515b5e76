package cloudrunfake_test

import (
	"context"
	"strings"
	"testing"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

const (
	latestT   = runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
	revisionT = runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
)

func TestTrafficValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.create(t, "web", service("img:1"))
	r1 := short(base.GetLatestReadyRevision())
	tag44 := "t" + strings.Repeat("a", 43)
	tests := []struct {
		name    string
		traffic []*runpb.TrafficTarget
		newRev  string // template.revision for this write
		code    codes.Code
		msg     string // exact message when set
	}{
		{"latest 100", []*runpb.TrafficTarget{{Type: latestT, Percent: 100}}, "", codes.OK, ""},
		{"split with tag-only", []*runpb.TrafficTarget{{Type: latestT, Percent: 100}, {Type: revisionT, Revision: r1, Tag: "old"}}, "", codes.OK, ""},
		{"to the revision this write creates", []*runpb.TrafficTarget{{Type: revisionT, Revision: r1, Percent: 95}, {Type: revisionT, Revision: "web-new", Percent: 5, Tag: "candidate"}}, "web-new", codes.OK, ""},
		{"sum 90", []*runpb.TrafficTarget{{Type: latestT, Percent: 90}}, "", codes.InvalidArgument, ""},
		{"sum 110", []*runpb.TrafficTarget{{Type: latestT, Percent: 100}, {Type: revisionT, Revision: r1, Percent: 10}}, "", codes.InvalidArgument, ""},
		{"percent over 100", []*runpb.TrafficTarget{{Type: latestT, Percent: 101}}, "", codes.InvalidArgument, ""},
		{"negative percent", []*runpb.TrafficTarget{{Type: latestT, Percent: 110}, {Type: revisionT, Revision: r1, Percent: -10}}, "", codes.InvalidArgument, ""},
		{"latest names a revision", []*runpb.TrafficTarget{{Type: latestT, Revision: r1, Percent: 100}}, "", codes.InvalidArgument, ""},
		{"revision without name", []*runpb.TrafficTarget{{Type: revisionT, Percent: 100}}, "", codes.InvalidArgument, ""},
		{"full resource name", []*runpb.TrafficTarget{{Type: revisionT, Revision: base.GetLatestReadyRevision(), Percent: 100}}, "", codes.InvalidArgument, ""},
		{"unspecified type", []*runpb.TrafficTarget{{Revision: r1, Percent: 100}}, "", codes.InvalidArgument, ""},
		{"tag not a DNS label", []*runpb.TrafficTarget{{Type: latestT, Percent: 100, Tag: "Canary"}}, "", codes.InvalidArgument, ""},
		{"duplicate tag", []*runpb.TrafficTarget{{Type: latestT, Percent: 100, Tag: "a"}, {Type: revisionT, Revision: r1, Tag: "a"}}, "", codes.InvalidArgument, ""},
		// "web" (3) + 43 = 46 is allowed, 44 is not.
		{"tag+service = 46", []*runpb.TrafficTarget{{Type: latestT, Percent: 100, Tag: "t" + strings.Repeat("a", 42)}}, "", codes.OK, ""},
		{"tag+service = 47", []*runpb.TrafficTarget{{Type: latestT, Percent: 100, Tag: tag44}}, "", codes.InvalidArgument, "spec.traffic.tag: traffic tag '" + tag44 + "' and service name 'web' together are too long. Combined traffic tag and service name cannot exceed 46 characters."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cur := e.get(t, svcName)
			next := proto.Clone(cur).(*runpb.Service)
			next.Traffic = tc.traffic
			if tc.newRev != "" {
				next.Template.Revision = tc.newRev
				next.Template.Containers[0].Image = "img:" + tc.newRev
			}
			_, err := e.update(t, &runpb.UpdateServiceRequest{Service: next})
			if got := status.Code(err); got != tc.code {
				t.Fatalf("UpdateService code %v (%v), want %v", got, err, tc.code)
			}
			if tc.msg != "" && status.Convert(err).Message() != tc.msg {
				t.Errorf("message = %q, want %q", status.Convert(err).Message(), tc.msg)
			}
			if err != nil {
				if diff := cmp.Diff(cur, e.get(t, svcName), protocmp.Transform()); diff != "" {
					t.Errorf("refused write changed the service (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestTrafficStatusesAndTagURIs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.create(t, "web", service("img:1"))
	stable := short(first.GetLatestReadyRevision())
	next := withRevision(withImage(first, "img:2"), "web-cand")
	// gcloud --no-traffic: LATEST replaced by the current revision, the new
	// one at 0% with a tag.
	next.Traffic = []*runpb.TrafficTarget{
		{Type: revisionT, Revision: stable, Percent: 100, Tag: "stable"},
		{Type: revisionT, Revision: "web-cand", Tag: "candidate"},
	}
	got, err := e.update(t, &runpb.UpdateServiceRequest{Service: next})
	if err != nil {
		t.Fatalf("no-traffic deploy: %v", err)
	}
	host := strings.TrimPrefix(got.GetUri(), "https://") // web-HASH-uc.a.run.app
	want := []*runpb.TrafficTargetStatus{
		{Type: revisionT, Revision: stable, Percent: 100, Tag: "stable", Uri: "https://stable---" + host},
		{Type: revisionT, Revision: "web-cand", Tag: "candidate", Uri: "https://candidate---" + host},
	}
	if diff := cmp.Diff(want, got.GetTrafficStatuses(), protocmp.Transform()); diff != "" {
		t.Errorf("traffic_statuses mismatch (-want +got):\n%s", diff)
	}
	if got.GetLatestReadyRevision() != svcName+"/revisions/web-cand" {
		t.Errorf("latest_ready_revision = %q, want web-cand (ready even without traffic)", got.GetLatestReadyRevision())
	}
	// --to-latest: LATEST 100 resolves to the newest ready revision.
	got.Traffic = []*runpb.TrafficTarget{{Type: latestT, Percent: 100}, {Type: revisionT, Revision: stable, Tag: "prev"}}
	got, err = e.update(t, &runpb.UpdateServiceRequest{Service: got})
	if err != nil {
		t.Fatalf("to-latest: %v", err)
	}
	want = []*runpb.TrafficTargetStatus{
		{Type: latestT, Revision: "web-cand", Percent: 100},
		{Type: revisionT, Revision: stable, Tag: "prev", Uri: "https://prev---" + host},
	}
	if diff := cmp.Diff(want, got.GetTrafficStatuses(), protocmp.Transform()); diff != "" {
		t.Errorf("traffic_statuses after to-latest mismatch (-want +got):\n%s", diff)
	}
	// The URI hash is deterministic: the same project and service give the
	// same URI in another emulator.
	other := newEnv(t).create(t, "web", service("img:9"))
	if other.GetUri() != got.GetUri() {
		t.Errorf("uri %q in a second emulator, want %q", other.GetUri(), got.GetUri())
	}
}

func TestReservedLabelsAndAnnotations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*runpb.Service)
		code   codes.Code
	}{
		{"plain label", func(s *runpb.Service) { s.Labels = map[string]string{"team": "a"} }, codes.OK},
		{"own annotation", func(s *runpb.Service) { s.Annotations = map[string]string{"twostage.dev/state": "{}"} }, codes.OK},
		{"run label", func(s *runpb.Service) { s.Labels = map[string]string{"run.googleapis.com/x": "1"} }, codes.InvalidArgument},
		{"cloud annotation", func(s *runpb.Service) { s.Annotations = map[string]string{"cloud.googleapis.com/location": "x"} }, codes.InvalidArgument},
		{"knative template annotation", func(s *runpb.Service) {
			s.Template.Annotations = map[string]string{"autoscaling.knative.dev/maxScale": "3"}
		}, codes.InvalidArgument},
		{"serving template label", func(s *runpb.Service) { s.Template.Labels = map[string]string{"serving.knative.dev/x": "1"} }, codes.InvalidArgument},
		{"subdomain", func(s *runpb.Service) { s.Annotations = map[string]string{"features.run.googleapis.com/x": "1"} }, codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			s := service("img:1")
			tc.mutate(s)
			_, err := e.svcs.CreateService(context.Background(), &runpb.CreateServiceRequest{Parent: parent, ServiceId: "web", Service: s})
			if got := status.Code(err); got != tc.code {
				t.Errorf("CreateService code %v (%v), want %v", got, err, tc.code)
			}
		})
	}
}

// TestMissingRevisionFailsTheOperation: traffic naming a revision that does
// not exist is accepted and fails the operation with INTERNAL
// (terraform-google-modules/terraform-docs-samples PR #269: code 13, "…
// does not exist or is deleted. …"); the status keeps serving, and the
// next write with valid traffic succeeds. Before, the request itself was
// INVALID_ARGUMENT.
func TestMissingRevisionFailsTheOperation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := e.create(t, "web", service("img:1"))
	next := proto.Clone(good).(*runpb.Service)
	next.Traffic = []*runpb.TrafficTarget{{Type: revisionT, Revision: "web-nope", Percent: 100}}
	op, err := e.svcs.UpdateService(t.Context(), &runpb.UpdateServiceRequest{Service: next})
	if err != nil {
		t.Fatalf("UpdateService = %v, want the request accepted", err)
	}
	_, err = op.Wait(t.Context())
	if status.Code(err) != codes.Internal || status.Convert(err).Message() != "Revision 'web-nope' does not exist or is deleted. Update all traffic to route to currently available revisions." {
		t.Errorf("the operation = %v, want INTERNAL with the API's text", err)
	}
	after := e.get(t, svcName)
	if diff := cmp.Diff(good.GetTrafficStatuses(), after.GetTrafficStatuses(), protocmp.Transform()); diff != "" {
		t.Errorf("traffic_statuses moved (-want +got):\n%s", diff)
	}
	fix := proto.Clone(after).(*runpb.Service)
	fix.Traffic = good.GetTraffic()
	if _, err := e.update(t, &runpb.UpdateServiceRequest{Service: fix}); err != nil {
		t.Errorf("a write with valid traffic after the failure: %v", err)
	}
}
