package cloudrunfake_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"google.golang.org/genproto/googleapis/api"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestCreateGetDerivedFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	got := e.create(t, "web", service("img:1"))
	want := &runpb.Service{
		Name:                  svcName,
		Generation:            1,
		ObservedGeneration:    1,
		LatestCreatedRevision: svcName + "/revisions/" + got.GetLatestCreatedRevision()[len(svcName+"/revisions/"):],
		LatestReadyRevision:   got.GetLatestCreatedRevision(),
		Traffic:               []*runpb.TrafficTarget{{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST, Percent: 100}},
		TrafficStatuses: []*runpb.TrafficTargetStatus{{
			Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST, Percent: 100,
			Revision: strings.TrimPrefix(got.GetLatestCreatedRevision(), svcName+"/revisions/"),
		}},
		Template: &runpb.RevisionTemplate{
			Containers: service("img:1").Template.Containers,
			// Server defaults of the template (RevisionTemplate comments).
			MaxInstanceRequestConcurrency: 80, Timeout: durationpb.New(300 * time.Second),
		},
		// Server defaults: "If no value is specified, GA is assumed", and
		// the observed ingress of an active service.
		LaunchStage: api.LaunchStage_GA,
		Ingress:     runpb.IngressTraffic_INGRESS_TRAFFIC_ALL,
	}
	opts := []cmp.Option{protocmp.Transform(), protocmp.IgnoreFields(&runpb.Service{},
		"uid", "create_time", "update_time", "etag", "uri", "urls", "terminal_condition", "conditions")}
	if diff := cmp.Diff(want, got, opts...); diff != "" {
		t.Errorf("CreateService mismatch (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(got.GetLatestCreatedRevision(), svcName+"/revisions/web-00001-") {
		t.Errorf("latest_created_revision = %q, want auto name web-00001-xxx", got.GetLatestCreatedRevision())
	}
	if got.GetTerminalCondition().GetState() != runpb.Condition_CONDITION_SUCCEEDED {
		t.Errorf("terminal_condition = %v, want SUCCEEDED", got.GetTerminalCondition())
	}
	if got.GetUri() == "" || !strings.HasSuffix(got.GetUri(), "-uc.a.run.app") || !strings.HasPrefix(got.GetUri(), "https://web-") {
		t.Errorf("uri = %q, want https://web-HASH-uc.a.run.app", got.GetUri())
	}
	if !got.GetCreateTime().AsTime().Equal(e.clk.Now()) {
		t.Errorf("create_time = %v, want the injected clock's %v", got.GetCreateTime().AsTime(), e.clk.Now())
	}
	if diff := cmp.Diff(got, e.get(t, svcName), protocmp.Transform()); diff != "" {
		t.Errorf("GetService mismatch (-want +got):\n%s", diff)
	}
}

func TestCreateErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, "web", service("img:1"))
	tests := []struct {
		name string
		req  *runpb.CreateServiceRequest
		code codes.Code
	}{
		{"exists", &runpb.CreateServiceRequest{Parent: parent, ServiceId: "web", Service: service("img:2")}, codes.AlreadyExists},
		{"bad parent", &runpb.CreateServiceRequest{Parent: "projects/p", ServiceId: "x", Service: service("i")}, codes.InvalidArgument},
		{"bad id", &runpb.CreateServiceRequest{Parent: parent, ServiceId: "Web", Service: service("i")}, codes.InvalidArgument},
		{"id too long", &runpb.CreateServiceRequest{Parent: parent, ServiceId: strings.Repeat("a", 50), Service: service("i")}, codes.InvalidArgument},
		{"no template", &runpb.CreateServiceRequest{Parent: parent, ServiceId: "x", Service: &runpb.Service{}}, codes.InvalidArgument},
		{"no image", &runpb.CreateServiceRequest{Parent: parent, ServiceId: "x", Service: &runpb.Service{Template: &runpb.RevisionTemplate{Containers: []*runpb.Container{{}}}}}, codes.InvalidArgument},
		{"unemulated feature", &runpb.CreateServiceRequest{Parent: parent, ServiceId: "x", Service: func() *runpb.Service {
			s := service("i")
			s.MultiRegionSettings = &runpb.Service_MultiRegionSettings{Regions: []string{"us-east1"}}
			return s
		}()}, codes.Unimplemented},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svcs.CreateService(context.Background(), tc.req)
			if got := status.Code(err); got != tc.code {
				t.Errorf("CreateService code = %v (%v), want %v", got, err, tc.code)
			}
		})
	}
}

func TestValidateOnlyDoesNotPersist(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	op, err := e.svcs.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parent, ServiceId: "web", Service: service("img:1"), ValidateOnly: true})
	if err != nil {
		t.Fatalf("CreateService(validate_only): %v", err)
	}
	got, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if got.GetName() != svcName || got.GetTemplate().GetContainers()[0].GetImage() != "img:1" {
		t.Errorf("validate_only response = %v, want the would-be service", got)
	}
	if _, ok := e.srv.Service(svcName); ok {
		t.Errorf("validate_only create persisted the service")
	}
	before := e.create(t, "web", service("img:1"))
	after, err := e.update(t, &runpb.UpdateServiceRequest{Service: withName(service("img:2"), svcName), ValidateOnly: true})
	if err != nil {
		t.Fatalf("UpdateService(validate_only): %v", err)
	}
	if after.GetTemplate().GetContainers()[0].GetImage() != "img:2" || after.GetGeneration() != 2 {
		t.Errorf("validate_only update response = %v, want image img:2 at generation 2", after)
	}
	if diff := cmp.Diff(before, e.get(t, svcName), protocmp.Transform()); diff != "" {
		t.Errorf("validate_only update changed the service (-want +got):\n%s", diff)
	}
	if n := len(e.srv.Revisions(svcName)); n != 1 {
		t.Errorf("revisions after validate_only update = %d, want 1", n)
	}
}

func withName(s *runpb.Service, name string) *runpb.Service {
	s.Name = name
	return s
}

func TestUpdateAllowMissingAndNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.update(t, &runpb.UpdateServiceRequest{Service: withName(service("img:1"), svcName)})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("UpdateService of a missing service: %v, want NotFound", err)
	}
	got, err := e.update(t, &runpb.UpdateServiceRequest{Service: withName(service("img:1"), svcName), AllowMissing: true})
	if err != nil {
		t.Fatalf("UpdateService(allow_missing): %v", err)
	}
	if got.GetGeneration() != 1 || got.GetLatestReadyRevision() == "" {
		t.Errorf("allow_missing created %v, want generation 1 with a ready revision", got)
	}
	if _, err := e.svcs.GetService(context.Background(), &runpb.GetServiceRequest{Name: parent + "/services/nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetService(missing) = %v, want NotFound", err)
	}
}

func TestEtagConflict(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []cloudrunfake.Option
		want codes.Code
	}{
		{"default ABORTED (AIP-154)", nil, codes.Aborted},
		{"failed precondition", []cloudrunfake.Option{cloudrunfake.WithConflictCode(codes.FailedPrecondition)}, codes.FailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.opts...)
			first := e.create(t, "web", service("img:1"))
			second, err := e.update(t, &runpb.UpdateServiceRequest{Service: withImage(first, "img:2")})
			if err != nil {
				t.Fatalf("update with current etag: %v", err)
			}
			if second.GetEtag() == first.GetEtag() {
				t.Errorf("etag did not change on write: %q", second.GetEtag())
			}
			_, err = e.update(t, &runpb.UpdateServiceRequest{Service: withImage(first, "img:3")})
			if got := status.Code(err); got != tc.want {
				t.Errorf("update with stale etag: code %v (%v), want %v", got, err, tc.want)
			}
			noEtag := withImage(first, "img:3")
			noEtag.Etag = ""
			if _, err := e.update(t, &runpb.UpdateServiceRequest{Service: noEtag}); err != nil {
				t.Errorf("update without etag: %v, want success", err)
			}
			op, err := e.svcs.DeleteService(context.Background(), &runpb.DeleteServiceRequest{Name: svcName, Etag: first.GetEtag()})
			if got := status.Code(err); got != tc.want {
				t.Errorf("delete with stale etag: code %v (%v, op %v), want %v", got, err, op, tc.want)
			}
		})
	}
}

// withImage returns a copy of s with the first container's image replaced.
func withImage(s *runpb.Service, image string) *runpb.Service {
	c := proto.Clone(s).(*runpb.Service)
	c.Template.Containers[0].Image = image
	return c
}
