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
	// api-v1-1-0-1234567 true https://candidate---api-2qb6o6a2ah-ew.a.run.app
	// before: api-v1-0-0-abcdef1=100%,api-v1-1-0-1234567=0%[candidate]
	// after:  api-v1-0-0-abcdef1=95%,api-v1-1-0-1234567=5%[candidate] | step 1 of 3
}

// ExampleService_Drift deploys prod with its own settings on top of the
// service's template, then shows what was changed in the console since.
func ExampleService_Drift() {
	ctx := context.Background()
	srv, err := cloudrunfake.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	svc, err := cloudrun.New(ctx, "projects/my-project/locations/europe-west1/services/api-prod",
		cloudrun.WithClientOptions(srv.ClientOptions()...))
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()

	maxInstances := int32(20)
	prod := stage.Overrides{
		Env:          map[string]string{"MODE": "prod"},
		Secrets:      map[string]stage.SecretRef{"DB_PASSWORD": {Secret: "db-password", Version: "3"}},
		CPU:          "2",
		Memory:       "2Gi",
		MaxInstances: &maxInstances,
	}
	rev, err := svc.Deploy(ctx, stage.Release{
		Artifact:  registry.Artifact{Repository: "europe-west1-docker.pkg.dev/my-project/apps/api", Digest: "sha256:" + fmt.Sprintf("%064x", 1)},
		Revision:  "v1-0-0-abcdef1",
		Traffic:   stage.RouteAll,
		Overrides: prod,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rev.Name, rev.Labels[stage.LabelConfig] == prod.Fingerprint())

	// Someone raises the memory in the console (a new revision).
	live, _ := srv.Service(svc.ResourceName())
	live.Template.Revision = "api-prod-console-1"
	live.Template.Containers[0].Resources.Limits["memory"] = "4Gi"
	if err := srv.SetService(live); err != nil {
		log.Fatal(err)
	}
	drift, err := svc.Drift(ctx, prod)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(drift)
	// Output:
	// api-prod-v1-0-0-abcdef1 true
	// memory: live 4Gi, declared 2Gi
}
