package artifactregistryfake_test

import (
	"context"
	"fmt"
	"log"

	artifactregistry "cloud.google.com/go/artifactregistry/apiv1"
	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/twostage/twostage/fake/artifactregistryfake"
	"github.com/twostage/twostage/registry"
)

// An image pushed over the OCI protocol shows up in the Artifact Registry
// API as a package with a tag naming the version (the digest).
func Example() {
	ctx := context.Background()
	srv, err := artifactregistryfake.NewServer(artifactregistryfake.WithRepository(&artifactregistrypb.Repository{
		Name:   "projects/p/locations/europe-west1/repositories/apps",
		Format: artifactregistrypb.Repository_DOCKER,
	}))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	img, err := registry.Build(ctx, nil, registry.BuildSpec{Files: map[string][]byte{"/x": []byte("x")}})
	if err != nil {
		log.Fatal(err)
	}
	ref, err := name.ParseReference(srv.RegistryHost()+"/p/apps/team/api:4f2c1e0", name.Insecure)
	if err != nil {
		log.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		log.Fatal(err)
	}

	client, err := artifactregistry.NewClient(ctx, srv.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	tag, err := client.GetTag(ctx, &artifactregistrypb.GetTagRequest{
		Name: "projects/p/locations/europe-west1/repositories/apps/packages/team%2Fapi/tags/4f2c1e0",
	})
	if err != nil {
		log.Fatal(err)
	}
	d, _ := img.Digest()
	fmt.Println(tag.GetVersion() == "projects/p/locations/europe-west1/repositories/apps/packages/team%2Fapi/versions/"+d.String())
	// Output:
	// true
}
