package cloudrunfake_test

import (
	"testing"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/twostage/twostage/fake/cloudrunfake"
)

// specFields drops the output-only fields of a service, keeping what the
// user asked for.
func specFields(s *runpb.Service) *runpb.Service {
	c := proto.Clone(s).(*runpb.Service)
	c.Name, c.Uid, c.Generation, c.Etag = "", "", 0, ""
	c.CreateTime, c.UpdateTime, c.DeleteTime, c.ExpireTime = nil, nil, nil, nil
	c.Creator, c.LastModifier = "", ""
	c.ObservedGeneration, c.TerminalCondition, c.Conditions = 0, nil, nil
	c.LatestReadyRevision, c.LatestCreatedRevision, c.TrafficStatuses = "", "", nil
	c.Uri, c.Urls, c.Reconciling = "", nil, false
	return c
}

// TestFailedWriteRestoresTheWholeSpec: a write whose operation fails because
// a revision is not ready leaves no part of its spec behind: not the
// traffic, not the annotations (the rollout State travels with the traffic)
// and not the template.
func TestFailedWriteRestoresTheWholeSpec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(s *runpb.Service)
	}{
		{"traffic and state annotation to a failed revision", func(s *runpb.Service) {
			s.Annotations = map[string]string{"twostage.dev/rollout": "step 1", "example.com/keep": "changed"}
			s.Traffic = []*runpb.TrafficTarget{{Type: revisionT, Revision: "web-good", Percent: 50}, {Type: revisionT, Revision: "web-bad", Percent: 50}}
		}},
		{"deploy of a failing image with labels and traffic", func(s *runpb.Service) {
			s.Template.Revision = "web-worse"
			s.Template.Containers[0].Image = "img:bad"
			s.Template.Labels = map[string]string{"team": "other"}
			s.Labels = map[string]string{"svc": "changed"}
			s.Annotations = map[string]string{"twostage.dev/rollout": "x"}
			s.Traffic = []*runpb.TrafficTarget{{Type: latestT, Percent: 100}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, cloudrunfake.WithFailingImage("img:bad", "crash"), cloudrunfake.WithFailedSpecRestored())
			s := service("img:1")
			s.Template.Revision = "web-good"
			s.Template.Labels = map[string]string{"team": "core"}
			s.Annotations = map[string]string{"example.com/keep": "yes"}
			good := e.create(t, "web", s)
			// A failed revision, tagged with no traffic.
			bad := withRevision(withImage(good, "img:bad"), "web-bad")
			bad.Traffic = []*runpb.TrafficTarget{{Type: revisionT, Revision: "web-good", Percent: 100}}
			if _, err := e.update(t, &runpb.UpdateServiceRequest{Service: bad}); status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("failing deploy: %v, want FailedPrecondition", err)
			}
			before := e.get(t, svcName)
			if got := before.GetTemplate().GetRevision(); got != "web-good" {
				t.Fatalf("after the failed deploy the template names %q, want web-good restored", got)
			}
			next := proto.Clone(before).(*runpb.Service)
			tt.edit(next)
			if _, err := e.update(t, &runpb.UpdateServiceRequest{Service: next}); status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("failing write: %v, want FailedPrecondition", err)
			}
			after := e.get(t, svcName)
			if diff := cmp.Diff(specFields(before), specFields(after), protocmp.Transform()); diff != "" {
				t.Errorf("spec after a failed write mismatch (-before +after):\n%s", diff)
			}
			if after.GetEtag() == before.GetEtag() {
				t.Errorf("etag unchanged %s: the failed write still counts as a write", after.GetEtag())
			}
			// The service still takes a rollback-style write.
			ok := proto.Clone(after).(*runpb.Service)
			ok.Traffic = []*runpb.TrafficTarget{{Type: revisionT, Revision: "web-good", Percent: 100}}
			ok.Annotations = map[string]string{"example.com/keep": "yes", "twostage.dev/rollout": "rolled back"}
			got, err := e.update(t, &runpb.UpdateServiceRequest{Service: ok})
			if err != nil {
				t.Fatalf("write after the failure: %v", err)
			}
			if got.GetLatestReadyRevision() != got.GetLatestCreatedRevision() {
				t.Errorf("after a successful write, latest ready %q and latest created %q differ", got.GetLatestReadyRevision(), got.GetLatestCreatedRevision())
			}
		})
	}
}

// TestFailedWriteKeepsItsSpec: by default a write whose revision fails
// keeps its spec, as the real API does (Service.reconciling: only
// traffic_statuses, observed_generation and latest_ready_revision keep the
// last serving state; Lore-Hex/quill-router PR #781/#782,
// terraform-provider-google #22565): the template names the failed
// revision and spec.traffic is the write's, while traffic_statuses still
// serve the old revision; a write that puts the old template and traffic
// back succeeds.
func TestFailedWriteKeepsItsSpec(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cloudrunfake.WithFailingImage("img:bad", "crash"))
	s := service("img:1")
	s.Template.Revision = "web-good"
	good := e.create(t, "web", s)
	bad := withRevision(withImage(proto.Clone(good).(*runpb.Service), "img:bad"), "web-bad")
	bad.Annotations = map[string]string{"twostage.dev/rollout": "step 1"}
	if _, err := e.update(t, &runpb.UpdateServiceRequest{Service: bad}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("failing deploy: %v, want FailedPrecondition", err)
	}
	after := e.get(t, svcName)
	if after.GetTemplate().GetRevision() != "web-bad" || after.GetAnnotations()["twostage.dev/rollout"] != "step 1" {
		t.Errorf("after the failed deploy: template %q, annotations %v; want the write's spec kept", after.GetTemplate().GetRevision(), after.GetAnnotations())
	}
	if diff := cmp.Diff(good.GetTrafficStatuses(), after.GetTrafficStatuses(), protocmp.Transform()); diff != "" {
		t.Errorf("traffic_statuses moved by a failed write (-want +got):\n%s", diff)
	}
	if after.GetLatestReadyRevision() != good.GetLatestReadyRevision() || after.GetObservedGeneration() != good.GetObservedGeneration() {
		t.Errorf("latest ready %q observed %d, want the last serving state %q %d", after.GetLatestReadyRevision(), after.GetObservedGeneration(), good.GetLatestReadyRevision(), good.GetObservedGeneration())
	}
	back := proto.Clone(after).(*runpb.Service)
	back.Template, back.Annotations = proto.Clone(good.GetTemplate()).(*runpb.RevisionTemplate), good.GetAnnotations()
	got, err := e.update(t, &runpb.UpdateServiceRequest{Service: back})
	if err != nil {
		t.Fatalf("putting the spec back: %v", err)
	}
	if got.GetTemplate().GetRevision() != "web-good" || got.GetLatestReadyRevision() != svcName+"/revisions/web-good" {
		t.Errorf("after putting the spec back: template %q, latest ready %q", got.GetTemplate().GetRevision(), got.GetLatestReadyRevision())
	}
}
