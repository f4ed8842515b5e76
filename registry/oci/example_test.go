package oci_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/registry/oci"
)

// Build an image once, push it under the commit SHA, and resolve the tag:
// the digest is the one computed at build time.
func Example() {
	ctx := context.Background()
	// An in-memory OCI registry on loopback stands in for a real one.
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	img, err := registry.Build(ctx, nil, registry.BuildSpec{
		Files:      map[string][]byte{"/app/index.html": []byte("<h1>hello</h1>\n")},
		Entrypoint: []string{"/app/server"},
	})
	if err != nil {
		log.Fatal(err)
	}
	built, err := img.Digest()
	if err != nil {
		log.Fatal(err)
	}

	reg, err := oci.New(oci.WithInsecure()) // real registries: oci.WithTokenSource(ts)
	if err != nil {
		log.Fatal(err)
	}
	ref := host + "/my-project/apps/api:4f2c1e0aa1b2c3d4e5f60718293a4b5c6d7e8f90"
	if _, err := reg.Push(ctx, ref, img); err != nil {
		log.Fatal(err)
	}
	a, err := reg.Resolve(ctx, ref)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.Digest == built.String())
	fmt.Println(strings.TrimPrefix(a.Repository, host))
	// Output:
	// true
	// /my-project/apps/api
}
