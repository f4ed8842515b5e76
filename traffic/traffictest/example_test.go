package traffictest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/traffic/traffictest"
)

// ExampleDeploySeeder seeds revisions through a stage's own Deploy, the way
// the suite sets up the routers it tests.
func ExampleDeploySeeder() {
	ctx := context.Background()
	svc := fake.NewService("api")
	seed := traffictest.DeploySeeder(svc)
	for _, suffix := range []string{"a1", "b2"} {
		name, err := seed(ctx, suffix)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(name)
	}
	sp, err := svc.Split(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sp, "latest:", sp.LatestRevision)
	// Output:
	// api-a1
	// api-b2
	// LATEST=100% latest: api-b2
}

// ExampleArtifact shows the deterministic artifacts the suites deploy.
func ExampleArtifact() {
	fmt.Println(traffictest.Artifact("a1"))
	// Output:
	// europe-west1-docker.pkg.dev/proj/apps/api@sha256:f55ff16f66f43360266b95db6f8fec01d76031054306ae4a4b380598f6cfd114
}
