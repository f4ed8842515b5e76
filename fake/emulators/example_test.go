package emulators_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	artifactregistry "cloud.google.com/go/artifactregistry/apiv1"
	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/twostage/twostage/fake/emulators"
)

// Every client connects through the one address: Cloud Run and Artifact
// Registry over gRPC, the image push over the OCI protocol.
func Example() {
	ctx := context.Background()
	set, err := emulators.Start(ctx) // seeds projects/my-project/locations/us-central1/repositories/apps
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	fmt.Println(strings.Replace("export "+emulators.EnvEmulatorHost+"="+set.Addr, set.Addr, "127.0.0.1:PORT", 1))

	// Push an image to ADDR/my-project/apps/app:v1.
	img, err := random.Image(128, 1)
	if err != nil {
		log.Fatal(err)
	}
	ref, err := name.ParseReference(set.ImageRepository()+"/app:v1", name.Insecure)
	if err != nil {
		log.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithTransport(set.HTTPClient().Transport)); err != nil {
		log.Fatal(err)
	}
	ar, err := artifactregistry.NewClient(ctx, set.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer ar.Close()
	tag, err := ar.GetTag(ctx, &artifactregistrypb.GetTagRequest{
		Name: "projects/my-project/locations/us-central1/repositories/apps/packages/app/tags/v1",
	})
	if err != nil {
		log.Fatal(err)
	}
	digest, _ := img.Digest()
	fmt.Println("tag v1 is the pushed image:", strings.HasSuffix(tag.GetVersion(), digest.String()))

	// Deploy it to Cloud Run.
	runc, err := run.NewServicesClient(ctx, set.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer runc.Close()
	op, err := runc.CreateService(ctx, &runpb.CreateServiceRequest{
		Parent: "projects/my-project/locations/us-central1", ServiceId: "api",
		Service: &runpb.Service{Template: &runpb.RevisionTemplate{
			Containers: []*runpb.Container{{Image: set.ImageRepository() + "/app@" + digest.String()}},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	svc, err := op.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(svc.GetName(), "ready:", svc.GetLatestReadyRevision() != "")
	// Output:
	// export TWOSTAGE_EMULATOR_HOST=127.0.0.1:PORT
	// tag v1 is the pushed image: true
	// projects/my-project/locations/us-central1/services/api ready: true
}
