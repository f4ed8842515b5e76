package pipeline_test

import (
	"time"

	"context"
	"errors"
	"fmt"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/registry"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// The whole pipeline on fakes: a commit goes to dev, its tag goes to prod
// with no traffic, and Promote moves traffic to it step by step.
func Example() {
	ctx := context.Background()
	clock := fake.NewClock(time.Time{})
	reg := fake.NewRegistry()
	dev := fake.NewService("api-dev", fake.WithClock(clock))
	prod := fake.NewService("api-prod", fake.WithClock(clock))

	// The prod service exists, serving a placeholder.
	placeholder := must(reg.Push(ctx, "europe-west1-docker.pkg.dev/acme/apps/api:placeholder", fake.NewImage("placeholder")))
	must(prod.Deploy(ctx, stage.Release{Artifact: placeholder, Revision: "placeholder", Traffic: stage.RouteAll}))

	p, err := pipeline.New(reg, "europe-west1-docker.pkg.dev/acme/apps/api", dev, prod, pipeline.WithClock(clock))
	if err != nil {
		panic(err)
	}
	sha := "c9f0f895fb98ab9159f51fd0297e236d0c1a4b2e"
	d, err := p.Dev(ctx, pipeline.DevInput{SHA: sha, Branch: "main", Image: fake.NewImage("build")})
	if err != nil {
		panic(err)
	}
	fmt.Println("dev:", d.Revision.Name)

	r, err := p.Release(ctx, pipeline.ReleaseInput{Tag: "v1.4.2", SHA: sha})
	if err != nil {
		panic(err)
	}
	fmt.Println("prod:", r.Revision.Name, "same digest as dev:", r.Artifact == d.Artifact)
	fmt.Println("preview:", r.PreviewURL)
	fmt.Println("traffic:", r.After)

	res, err := p.Promote(ctx, pipeline.PromoteInput{})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.State.Phase+":", res.Split)
	// Output:
	// dev: api-dev-c9f0f89
	// prod: api-prod-v1-4-2-c9f0f89 same digest as dev: true
	// preview: https://candidate---api-prod-abc123xyz-ew.a.run.app
	// traffic: api-prod-placeholder=100%,api-prod-v1-4-2-c9f0f89=0%[candidate]
	// Succeeded: api-prod-v1-4-2-c9f0f89=100%[stable],api-prod-placeholder=0%[prior]
}

// A release whose image differs from the one that ran in dev is refused,
// naming both digests.
func ExamplePipeline_Release_provenance() {
	ctx := context.Background()
	reg := fake.NewRegistry()
	dev, prod := fake.NewService("api-dev"), fake.NewService("api-prod")
	p := must(pipeline.New(reg, "registry.example.com/api", dev, prod))

	sha := "8f14e45fceea167a5a36dedd4bea2543c1f0a2b7"
	must(p.Dev(ctx, pipeline.DevInput{SHA: sha, Branch: "main", Image: fake.NewImage("original")}))
	must(prod.Deploy(ctx, stage.Release{Artifact: mustResolve(reg, "registry.example.com/api:"+sha), Revision: "first", Traffic: stage.RouteAll}))

	// Someone pushes a rebuilt image under the commit's tag.
	must(reg.Push(ctx, "registry.example.com/api:"+sha, fake.NewImage("rebuilt")))

	_, err := p.Release(ctx, pipeline.ReleaseInput{Tag: "v1.0.0", SHA: sha})
	fmt.Println(errors.Is(err, twostage.ErrPolicy))
	// Output:
	// true
}

// A gate that fails rolls the release back in one write; Promote reports the
// step and the verdicts in a *traffic.RolloutError.
func ExamplePipeline_Promote_rollback() {
	ctx := context.Background()
	clock := fake.NewClock(time.Time{})
	reg := fake.NewRegistry()
	dev := fake.NewService("api-dev", fake.WithClock(clock))
	prod := fake.NewService("api-prod", fake.WithClock(clock))
	placeholder := must(reg.Push(ctx, "registry.example.com/api:placeholder", fake.NewImage("placeholder")))
	must(prod.Deploy(ctx, stage.Release{Artifact: placeholder, Revision: "stable", Traffic: stage.RouteAll}))

	failing := traffic.GateFunc(func(context.Context, traffic.Check) (traffic.Verdict, error) {
		return traffic.Verdict{Gate: "slo", Outcome: traffic.Fail, Reason: "error rate 4.0% > 1.0%"}, nil
	})
	p := must(pipeline.New(reg, "registry.example.com/api", dev, prod, pipeline.WithClock(clock), pipeline.WithGates(failing)))
	sha := "45c48cce2e2d7fbdea1afc51c7c6ad26a1b6e3f9"
	must(p.Dev(ctx, pipeline.DevInput{SHA: sha, Branch: "main", Image: fake.NewImage("bad")}))
	must(p.Release(ctx, pipeline.ReleaseInput{Tag: "v2.0.0", SHA: sha}))

	_, err := p.Promote(ctx, pipeline.PromoteInput{})
	var rerr *traffic.RolloutError
	if errors.As(err, &rerr) {
		fmt.Println("rolled back at step", rerr.Step, "("+fmt.Sprint(rerr.Percent)+"%):", rerr.Reason)
	}
	fmt.Println("traffic:", must(prod.Split(ctx)))
	// Output:
	// rolled back at step 1 (5%): gate slo failed: error rate 4.0% > 1.0%
	// traffic: api-prod-stable=100%[stable],api-prod-v2-0-0-45c48cc=0%[candidate]
}

// Prune deletes the dev revisions nothing serves, keeping the newest one
// besides the revision that serves; a dry run (no Apply) only lists them.
func ExamplePipeline_Prune() {
	ctx := context.Background()
	reg := fake.NewRegistry()
	dev, prod := fake.NewService("api-dev"), fake.NewService("api-prod")
	p := must(pipeline.New(reg, "registry.example.com/api", dev, prod))
	for _, sha := range []string{"a87ff679a2f3e71d9181a67b7542122c04d1b6e1", "e4da3b7fbbce2345d7772b0674a318d5a1c2b3d4", "1679091c5a880faf6fb5e6087eb1b2dc7b6c5e4f"} {
		must(p.Dev(ctx, pipeline.DevInput{SHA: sha, Branch: "main", Image: fake.NewImage(sha)}))
	}
	res := must(p.Prune(ctx, pipeline.PruneInput{Keep: 1, Apply: true}))
	for _, s := range res.Stages {
		fmt.Println(s.Stage, "kept", s.Kept, "deleted", s.Deleted)
	}
	// Output:
	// dev kept [api-dev-1679091 api-dev-e4da3b7] deleted [api-dev-a87ff67]
}

// must returns v, or panics with err: the examples stop at the first
// error rather than carry on with a zero value.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func mustResolve(reg *fake.Registry, ref string) registry.Artifact {
	a, err := reg.Resolve(context.Background(), ref)
	if err != nil {
		panic(err)
	}
	return a
}
