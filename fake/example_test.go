package fake_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

func ExampleRegistry() {
	ctx := context.Background()
	reg := fake.NewRegistry()
	const repo = "europe-west1-docker.pkg.dev/my-project/apps/api"

	a, err := reg.Push(ctx, repo+":3f2c1e9", fake.NewImage("build 3f2c1e9"))
	if err != nil {
		panic(err)
	}
	fmt.Println("pushed:  ", a)

	got, err := reg.Resolve(ctx, repo+":3f2c1e9")
	fmt.Println("resolved:", got == a, err)

	_, err = reg.Resolve(ctx, repo+":v1.0.0")
	fmt.Println("missing: ", errors.Is(err, twostage.ErrNotFound))
	// Output:
	// pushed:   europe-west1-docker.pkg.dev/my-project/apps/api@sha256:cf884080fd5e24af500c323f808d0353de52033719b45ffb314ad1d6d30a3ed3
	// resolved: true <nil>
	// missing:  true
}

func ExampleRegistryFuncs() {
	ctx := context.Background()
	const ref = "europe-west1-docker.pkg.dev/my-project/apps/api:3f2c1e9"
	// The tag exists, but the first two lookups fail as if CI were still
	// pushing it.
	reg := fake.NewRegistry(
		fake.WithTag(ref, "sha256:3333333333333333333333333333333333333333333333333333333333333333"),
		fake.WithRegistryFuncs(fake.RegistryFuncs{
			Resolve: func(ctx context.Context, n int, next registry.Registry, ref string) (registry.Artifact, error) {
				if n <= 2 {
					return registry.Artifact{}, fmt.Errorf("resolving %s: %w", ref, twostage.ErrNotFound)
				}
				return next.Resolve(ctx, ref)
			},
		}),
	)
	for range 3 {
		_, err := reg.Resolve(ctx, ref)
		fmt.Println(err)
	}
	// Output:
	// resolving europe-west1-docker.pkg.dev/my-project/apps/api:3f2c1e9: not found
	// resolving europe-west1-docker.pkg.dev/my-project/apps/api:3f2c1e9: not found
	// <nil>
}

func ExampleService() {
	ctx := context.Background()
	reg := fake.NewRegistry()
	svc := fake.NewService("api")
	artifact, err := reg.Push(ctx, "europe-west1-docker.pkg.dev/my-project/apps/api:3f2c1e9", fake.NewImage("build 3f2c1e9"))
	if err != nil {
		panic(err)
	}

	// Dev: the first deploy with traffic creates the service.
	if _, err := svc.Deploy(ctx, stage.Release{Artifact: artifact, Revision: "3f2c1e9", Traffic: stage.RouteAll}); err != nil {
		panic(err)
	}
	// Prod-style: a new revision with no traffic, reachable through its tag.
	rev, err := svc.Deploy(ctx, stage.Release{Artifact: artifact, Revision: "v1-0-0-3f2c1e9", Traffic: stage.RouteNone, Tags: []string{"candidate"}})
	if err != nil {
		panic(err)
	}
	fmt.Println("revision:", rev.Name, rev.Ready)
	fmt.Println("preview: ", rev.TagURLs["candidate"])

	sp, err := svc.Split(ctx)
	if err != nil {
		panic(err)
	}
	for _, t := range sp.Targets {
		fmt.Printf("target:   %s %d%% tag=%q\n", t.Revision, t.Percent, t.Tag)
	}
	fmt.Println("latest:  ", sp.LatestRevision)
	// Output:
	// revision: api-v1-0-0-3f2c1e9 true
	// preview:  https://candidate---api-abc123xyz-ew.a.run.app
	// target:   api-3f2c1e9 100% tag=""
	// target:   api-v1-0-0-3f2c1e9 0% tag="candidate"
	// latest:   api-v1-0-0-3f2c1e9
}

func ExampleServiceFuncs() {
	ctx := context.Background()
	// Fail the 2nd SetSplit with ErrConflict, as if another writer won.
	svc := fake.NewService("api", fake.WithServiceFuncs(fake.ServiceFuncs{
		SetSplit: func(ctx context.Context, n int, next fake.ServiceBackend, s traffic.Split) (traffic.Split, error) {
			if n == 2 {
				return traffic.Split{}, fmt.Errorf("injected: %w", twostage.ErrConflict)
			}
			return next.SetSplit(ctx, s)
		},
	}))
	a := registryArtifact("sha256:1111111111111111111111111111111111111111111111111111111111111111")
	for _, r := range []stage.Release{
		{Artifact: a, Revision: "stable", Traffic: stage.RouteAll},
		{Artifact: a, Revision: "canary", Traffic: stage.RouteNone},
	} {
		if _, err := svc.Deploy(ctx, r); err != nil {
			panic(err)
		}
	}
	for _, pct := range []int{5, 25, 25} {
		sp, err := svc.Split(ctx)
		if err != nil {
			panic(err)
		}
		sp.Targets = []traffic.Target{{Revision: "api-stable", Percent: 100 - pct}, {Revision: "api-canary", Percent: pct}}
		_, err = svc.SetSplit(ctx, sp)
		fmt.Printf("%d%%: conflict=%v\n", pct, errors.Is(err, twostage.ErrConflict))
	}
	for _, c := range svc.Calls() {
		if c.Method == "SetSplit" {
			fmt.Println(c.Arg, c.Err != nil)
		}
	}
	// Output:
	// 5%: conflict=false
	// 25%: conflict=true
	// 25%: conflict=false
	// api-stable=95%, api-canary=5% false
	// api-stable=75%, api-canary=25% true
	// api-stable=75%, api-canary=25% false
}

func ExampleClock() {
	ctx := context.Background()
	clk := fake.NewClock(time.Time{})
	reg := fake.NewRegistry(fake.WithClock(clk))
	const ref = "europe-west1-docker.pkg.dev/my-project/apps/api:3f2c1e9"

	// CI finishes pushing the image 3.3s after we start waiting.
	start := clk.Now()
	clk.At(start.Add(3300*time.Millisecond), func(time.Time) {
		reg.Seed(ref, "sha256:2222222222222222222222222222222222222222222222222222222222222222")
	})

	// Code under test: poll with doubling backoff.
	wait := 500 * time.Millisecond
	for {
		if _, err := reg.Resolve(ctx, ref); err == nil {
			break
		}
		if err := clk.Sleep(ctx, wait); err != nil {
			panic(err)
		}
		wait *= 2
	}
	fmt.Println("slept:", clk.Sleeps())
	fmt.Println("found after:", clk.Now().Sub(start))
	fmt.Println("resolves:", len(reg.Calls()))
	// Output:
	// slept: [500ms 1s 2s]
	// found after: 3.5s
	// resolves: 4
}

func ExampleService_FailRevision() {
	ctx := context.Background()
	a := registryArtifact("sha256:4444444444444444444444444444444444444444444444444444444444444444")
	svc := fake.NewService("api", fake.WithDeployed(stage.Release{Artifact: a, Revision: "good", Traffic: stage.RouteAll}))

	svc.FailRevision("bad", "The user-provided container failed to start and listen on the port defined provided by the PORT=8080 environment variable.")
	rev, err := svc.Deploy(ctx, stage.Release{Artifact: a, Revision: "bad", Traffic: stage.RouteAll})
	fmt.Println(rev.Name, rev.Ready, errors.Is(err, twostage.ErrNotReady))
	fmt.Println(err)

	// Traffic stays where it was.
	st := svc.Snapshot()
	fmt.Println(st.Split.LatestRevision, st.Split.Targets)
	// Output:
	// api-bad false true
	// deploying revision "api-bad" to service "api": Revision 'api-bad' is not ready and cannot serve traffic. The user-provided container failed to start and listen on the port defined provided by the PORT=8080 environment variable.: not ready
	// api-good [{ true 100 }]
}
