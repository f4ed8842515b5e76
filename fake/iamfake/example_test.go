package iamfake_test

import (
	"context"
	"fmt"
	"log"
	"path"

	"github.com/twostage/twostage/fake/iamfake"
	iam "google.golang.org/api/iam/v1"
)

// The emulator serves the real iam/v1 client. Names come back with the
// project number, as the API reports them.
func Example() {
	ctx := context.Background()
	srv, err := iamfake.NewServer(iamfake.WithProject("my-proj", "123456789012"), iamfake.WithPendingOperations(2))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	svc, err := iam.NewService(ctx, srv.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	pools := svc.Projects.Locations.WorkloadIdentityPools
	op, err := pools.Create("projects/my-proj/locations/global", &iam.WorkloadIdentityPool{DisplayName: "GitHub"}).
		WorkloadIdentityPoolId("github").Context(ctx).Do()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(path.Dir(op.Name), "done:", op.Done)
	for !op.Done {
		if op, err = pools.Operations.Get(op.Name).Context(ctx).Do(); err != nil {
			log.Fatal(err)
		}
		fmt.Println("polled, done:", op.Done)
	}
	p, err := pools.Get("projects/my-proj/locations/global/workloadIdentityPools/github").Context(ctx).Do()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Name, p.State)
	_, err = pools.Create("projects/my-proj/locations/global", &iam.WorkloadIdentityPool{}).WorkloadIdentityPoolId("github").Context(ctx).Do()
	fmt.Println(err)
	// Output:
	// projects/123456789012/locations/global/workloadIdentityPools/github/operations done: false
	// polled, done: false
	// polled, done: true
	// projects/123456789012/locations/global/workloadIdentityPools/github ACTIVE
	// googleapi: Error 409: Requested entity already exists
}
