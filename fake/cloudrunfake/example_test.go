package cloudrunfake_test

import (
	"context"
	"fmt"
	"log"

	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/twostage/twostage/fake/cloudrunfake"
)

// Example deploys a service, then a candidate revision at 0% with a tag
// (gcloud's --no-traffic), through the official Cloud Run client.
func Example() {
	ctx := context.Background()
	srv, err := cloudrunfake.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := run.NewServicesClient(ctx, srv.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	op, err := client.CreateService(ctx, &runpb.CreateServiceRequest{
		Parent:    "projects/demo/locations/us-central1",
		ServiceId: "hello",
		Service: &runpb.Service{Template: &runpb.RevisionTemplate{
			Revision:   "hello-v1",
			Containers: []*runpb.Container{{Image: "us-docker.pkg.dev/demo/app/hello@sha256:1111"}},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	svc, err := op.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", svc.GetUri())

	svc.Template.Revision = "hello-v2"
	svc.Template.Containers[0].Image = "us-docker.pkg.dev/demo/app/hello@sha256:2222"
	svc.Traffic = []*runpb.TrafficTarget{
		{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION, Revision: "hello-v1", Percent: 100},
		{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION, Revision: "hello-v2", Tag: "candidate"},
	}
	update, err := client.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: svc})
	if err != nil {
		log.Fatal(err)
	}
	svc, err = update.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("generation:", svc.GetGeneration(), "latest ready:", svc.GetLatestReadyRevision())
	for _, ts := range svc.GetTrafficStatuses() {
		fmt.Printf("%s %d%% tag=%q uri=%q\n", ts.GetRevision(), ts.GetPercent(), ts.GetTag(), ts.GetUri())
	}
	// Output:
	// created: https://hello-ghjard6y6d-uc.a.run.app
	// generation: 2 latest ready: projects/demo/locations/us-central1/services/hello/revisions/hello-v2
	// hello-v1 100% tag="" uri=""
	// hello-v2 0% tag="candidate" uri="https://candidate---hello-ghjard6y6d-uc.a.run.app"
}
