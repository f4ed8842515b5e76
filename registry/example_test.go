package registry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/registry"
)

// A release started from a git tag waits for the image that the build of
// the same commit is still pushing. Here the image appears on the third
// check; the fake clock makes the wait instant.
func ExampleAwait() {
	ctx := context.Background()
	const ref = "europe-west1-docker.pkg.dev/my-project/apps/api:4f2c1e0"
	reg := fake.NewRegistry(fake.WithRegistryFuncs(fake.RegistryFuncs{
		Resolve: func(ctx context.Context, n int, next registry.Registry, ref string) (registry.Artifact, error) {
			if n < 3 {
				return registry.Artifact{}, fmt.Errorf("resolving %s: %w", ref, twostage.ErrNotFound)
			}
			return next.Resolve(ctx, ref)
		},
	}))
	reg.Seed(ref, "sha256:4a0e8a3d9b1c2f7e6d5c4b3a29180716f5e4d3c2b1a09f8e7d6c5b4a39281706")

	a, err := registry.Await(ctx, reg, ref,
		registry.WithClock(fake.NewClock(time.Time{})),
		registry.WithProgress(func(p registry.AwaitProgress) {
			fmt.Printf("check %d: not there yet (%v)\n", p.Attempt, errors.Is(p.Err, twostage.ErrNotFound))
		}))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a)
	// Output:
	// check 1: not there yet (true)
	// check 2: not there yet (true)
	// europe-west1-docker.pkg.dev/my-project/apps/api@sha256:4a0e8a3d9b1c2f7e6d5c4b3a29180716f5e4d3c2b1a09f8e7d6c5b4a39281706
}

// When the deadline passes first, the error says what was awaited, for
// how long and how often, and wraps both ErrNotFound and the deadline.
func ExampleAwait_timeout() {
	ctx := context.Background()
	reg := fake.NewRegistry()
	_, err := registry.Await(ctx, reg, "europe-west1-docker.pkg.dev/my-project/apps/api:4f2c1e0",
		registry.WithClock(fake.NewClock(time.Time{})),
		registry.WithInterval(time.Second, time.Second), // no growth: 1s between checks
		registry.WithTimeout(10*time.Second))
	fmt.Println(errors.Is(err, twostage.ErrNotFound), errors.Is(err, context.DeadlineExceeded))
	// Output:
	// true true
}

func ExampleParseReference() {
	r, err := registry.ParseReference("europe-west1-docker.pkg.dev/my-project/apps/api:v1.4.2")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Host())
	fmt.Println(r.Repository)
	fmt.Println(r.Tag)

	_, err = registry.ParseReference("api:latest")
	fmt.Println(errors.Is(err, twostage.ErrInvalid))
	// Output:
	// europe-west1-docker.pkg.dev
	// europe-west1-docker.pkg.dev/my-project/apps/api
	// v1.4.2
	// true
}

// Build makes the same digest from the same input, on any machine, without
// a Docker daemon: the digest can be recorded at build time and checked at
// release time.
func ExampleBuild() {
	ctx := context.Background()
	spec := registry.BuildSpec{
		Files:      map[string][]byte{"/app/index.html": []byte("<h1>hello</h1>\n")},
		Entrypoint: []string{"/app/server"},
		Env:        []string{"PORT=8080"},
	}
	img1, err := registry.Build(ctx, nil, spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	img2, err := registry.Build(ctx, nil, spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	d1, err := img1.Digest()
	if err != nil {
		fmt.Println(err)
		return
	}
	d2, err := img2.Digest()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d1 == d2)
	cf, err := img1.ConfigFile()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cf.OS + "/" + cf.Architecture)
	// Output:
	// true
	// linux/amd64
}
