package cloudrunfake_test

import (
	"context"
	"testing"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestContainerRules: one port at most, 0 < port < 65536, CPU limits from
// the supported set (runpb ContainerPort, Container.ports and
// ResourceRequirements.limits comments).
func TestContainerRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		edit  func(c *runpb.Container)
		valid bool
	}{
		{"port 8080", func(c *runpb.Container) { c.Ports = []*runpb.ContainerPort{{ContainerPort: 8080}} }, true},
		{"port 70000", func(c *runpb.Container) { c.Ports = []*runpb.ContainerPort{{ContainerPort: 70000}} }, false},
		{"port 0", func(c *runpb.Container) { c.Ports = []*runpb.ContainerPort{{Name: "http1"}} }, false},
		{"two ports", func(c *runpb.Container) {
			c.Ports = []*runpb.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 9090}}
		}, false},
		{"cpu 2", func(c *runpb.Container) {
			c.Resources = &runpb.ResourceRequirements{Limits: map[string]string{"cpu": "2"}}
		}, true},
		{"cpu 2000m", func(c *runpb.Container) {
			c.Resources = &runpb.ResourceRequirements{Limits: map[string]string{"cpu": "2000m"}}
		}, true},
		{"cpu 0.5", func(c *runpb.Container) {
			c.Resources = &runpb.ResourceRequirements{Limits: map[string]string{"cpu": "0.5"}}
		}, true},
		{"cpu 3", func(c *runpb.Container) {
			c.Resources = &runpb.ResourceRequirements{Limits: map[string]string{"cpu": "3"}}
		}, false},
		{"cpu lots", func(c *runpb.Container) {
			c.Resources = &runpb.ResourceRequirements{Limits: map[string]string{"cpu": "lots"}}
		}, false},
	} {
		svc := service("img:1")
		tt.edit(svc.Template.Containers[0])
		_, err := e.svcs.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parent, ServiceId: "svc", Service: svc, ValidateOnly: true})
		if got := status.Code(err); tt.valid && got != codes.OK || !tt.valid && got != codes.InvalidArgument {
			t.Errorf("%s: CreateService = %v, want valid %v", tt.name, err, tt.valid)
		}
	}
}

// TestShortTagsAndLatestRevision: tags need three characters; the latest
// and the only revision cannot be deleted.
func TestShortTagsAndLatestRevision(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cur := e.create(t, "web", service("img:1"))
	cur.Traffic = []*runpb.TrafficTarget{{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST, Percent: 100, Tag: "ab"}}
	if _, err := e.update(t, &runpb.UpdateServiceRequest{Service: cur}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("tag of 2 characters = %v, want INVALID_ARGUMENT", err)
	}
	only := e.get(t, svcName).GetLatestCreatedRevision()
	if op, err := e.revs.DeleteRevision(ctx, &runpb.DeleteRevisionRequest{Name: only}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("DeleteRevision(the only revision) = %v, %v; want FAILED_PRECONDITION", op, err)
	}
}
