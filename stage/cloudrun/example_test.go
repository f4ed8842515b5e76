package cloudrun_test

import (
	"context"
	"fmt"
	"log"

	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/traffic"
)

// Example deploys to the Cloud Run emulator through the official client: a
// dev-style first deploy, a no-traffic release candidate, then a 5% canary
// step written together with the rollout state.
func Example() {
	ctx := context.Background()
	srv, err := cloudrunfake.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	// In production: cloudrun.New(ctx, name) with Application Default
	// Credentials.
	svc, err := cloudrun.New(ctx, "projects/my-project/locations/europe-west1/services/api",
		cloudrun.WithClientOptions(srv.ClientOptions()...))
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()

	repo := "europe-west1-docker.pkg.dev/my-project/apps/api"
	stable, err := svc.Deploy(ctx, stage.Release{
		Artifact: registry.Artifact{Repository: repo, Digest: "sha256:" + fmt.Sprintf("%064x", 1)},
		Revision: "v1-0-0-abcdef1",
		Traffic:  stage.RouteAll,
	})
	if err != nil {
		log.Fatal(err)
	}
	candidate, err := svc.Deploy(ctx, stage.Release{
		Artifact: registry.Artifact{Repository: repo, Digest: "sha256:" + fmt.Sprintf("%064x", 2)},
		Revision: "v1-1-0-1234567",
		Traffic:  stage.RouteNone,
		Tags:     []string{"candidate"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(stable.Name, stable.Ready)
	fmt.Println(candidate.Name, candidate.Ready, candidate.TagURLs["candidate"])

	sp, err := svc.Split(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("before:", sp)
	sp, err = traffic.Shift(sp, stable.Name, candidate.Name, 5)
	if err != nil {
		log.Fatal(err)
	}
	sp.State = "step 1 of 3"
	sp, err = svc.SetSplit(ctx, sp)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after: ", sp, "|", sp.State)
	// Output:
	// api-v1-0-0-abcdef1 true
	// api-v1-1-0-1234567 true https://candidate---api-plsky1g0l0-ew.a.run.app
	// before: api-v1-0-0-abcdef1=100%,api-v1-1-0-1234567=0%[candidate]
	// after:  api-v1-0-0-abcdef1=95%,api-v1-1-0-1234567=5%[candidate] | step 1 of 3
}
