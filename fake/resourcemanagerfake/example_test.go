package resourcemanagerfake_test

import (
	"context"
	"fmt"
	"log"

	"cloud.google.com/go/resourcemanager/apiv3/resourcemanagerpb"

	"cloud.google.com/go/iam/apiv1/iampb"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	"github.com/twostage/twostage/fake/resourcemanagerfake"
	"google.golang.org/grpc/status"
)

// A concurrent edit between a read and a write makes the write fail with
// ABORTED; a fresh read-modify-write then succeeds and keeps both changes.
func Example() {
	ctx := context.Background()
	var srv *resourcemanagerfake.Server
	sets := 0 // SetIamPolicy calls; calls are sequential here
	concurrentEdit := resourcemanagerfake.WithErrorInjection(func(method string, _ any) error {
		if method != resourcemanagerpb.Projects_SetIamPolicy_FullMethodName {
			return nil
		}
		if sets++; sets == 1 {
			_ = srv.ModifyPolicy("projects/my-proj", func(p *iampb.Policy) {
				p.Bindings = append(p.Bindings, &iampb.Binding{Role: "roles/owner", Members: []string{"user:admin@example.com"}})
			})
		}
		return nil
	})
	srv, err := resourcemanagerfake.NewServer(resourcemanagerfake.WithProject("my-proj", "123456789012"), concurrentEdit)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := resourcemanager.NewProjectsClient(ctx, srv.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ours := &iampb.Binding{Role: "roles/viewer", Members: []string{"user:ci@example.com"}}
	for attempt := 1; ; attempt++ {
		p, err := c.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: "projects/my-proj", Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 3}})
		if err != nil {
			log.Fatal(err)
		}
		p.Bindings = append(p.Bindings, ours)
		_, err = c.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: "projects/my-proj", Policy: p})
		if err == nil {
			break
		}
		fmt.Println("attempt", attempt, status.Code(err))
	}
	for _, b := range srv.Policy("projects/my-proj").Bindings {
		fmt.Println(b.Role, b.Members)
	}
	// Output:
	// attempt 1 Aborted
	// roles/owner [user:admin@example.com]
	// roles/viewer [user:ci@example.com]
}
