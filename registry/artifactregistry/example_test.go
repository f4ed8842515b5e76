package artifactregistry_test

import (
	"context"
	"fmt"
	"log"

	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"

	"github.com/twostage/twostage/fake/artifactregistryfake"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/registry/artifactregistry"
	"github.com/twostage/twostage/registry/oci"
)

// Push a build under its commit SHA, resolve it through the Artifact
// Registry API, add a release tag, and review the repository. The emulator
// stands in for Artifact Registry; in production, drop the options.
func Example() {
	ctx := context.Background()
	const repo = "projects/my-project/locations/europe-west1/repositories/apps"
	srv, err := artifactregistryfake.NewServer(artifactregistryfake.WithRepository(&artifactregistrypb.Repository{
		Name: repo, Format: artifactregistrypb.Repository_DOCKER,
	}))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	reg, err := artifactregistry.New(ctx, repo,
		artifactregistry.WithClientOptions(srv.ClientOptions()...),
		artifactregistry.WithHost(srv.RegistryHost()), // default: europe-west1-docker.pkg.dev
		artifactregistry.WithRegistryOptions(oci.WithInsecure()))
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Close()

	img, err := registry.Build(ctx, nil, registry.BuildSpec{Files: map[string][]byte{"/app/v": []byte("1")}})
	if err != nil {
		log.Fatal(err)
	}
	built, err := img.Digest()
	if err != nil {
		log.Fatal(err)
	}
	pushed, err := reg.Push(ctx, reg.Image("api")+":4f2c1e0", img)
	if err != nil {
		log.Fatal(err)
	}
	if err := reg.Tag(ctx, pushed, "v1.4.2"); err != nil {
		log.Fatal(err)
	}
	release, err := reg.Resolve(ctx, reg.Image("api")+":v1.4.2")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(release.Digest == built.String())

	findings, err := reg.Check(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range findings {
		fmt.Println(f.Severity, f.Check)
	}
	// Output:
	// true
	// warning immutable-tags
}
