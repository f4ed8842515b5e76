package pipeline_test

import (
	"context"
	"fmt"
	"time"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/traffic"
)

// The README's "A taste", verbatim between the markers (a root test holds
// them equal): the first release creates the prod service, the second is
// promoted 5% → 25% → 100% by the default plan while a gate watches.
func Example_taste() {
	ctx := context.Background()
	clock := fake.NewClock(time.Time{}) // bakes and waits run on simulated time
	healthy := traffic.GateFunc(func(context.Context, traffic.Check) (traffic.Verdict, error) {
		return traffic.Verdict{Gate: "healthy", Outcome: traffic.Pass}, nil
	})
	// BEGIN taste
	reg := fake.NewRegistry()                                            // or registry/artifactregistry
	dev, prod := fake.NewService("api-dev"), fake.NewService("api-prod") // or stage/cloudrun
	p, err := pipeline.New(reg, "europe-west1-docker.pkg.dev/acme/apps/api", dev, prod,
		pipeline.WithGates(healthy),              // any traffic.Gate, e.g. analysis.NewSequential
		pipeline.WithAudit(&pipeline.EventLog{}), // every action is recorded
		pipeline.WithCreateProd(),                // the first release may create the prod service
		pipeline.WithClock(clock),
	)
	if err != nil {
		panic(err)
	}
	for i, tag := range []string{"v1.0.0", "v1.1.0"} {
		sha := fmt.Sprintf("%d%039d", i+1, 0) // a commit SHA
		// push to main: one image, deployed to dev at 100%
		if _, err := p.Dev(ctx, pipeline.DevInput{SHA: sha, Branch: "main", Image: fake.NewImage(sha)}); err != nil {
			panic(err)
		}
		// the tag: the same digest in prod (0% traffic and a preview URL once prod exists)
		rel, err := p.Release(ctx, pipeline.ReleaseInput{Tag: tag, SHA: sha})
		if err != nil {
			panic(err)
		}
		fmt.Println(tag, "→", rel.Revision.Name, traffic.Shares(rel.After))
	}
	// 5% → 25% → 100%, gated; a failing gate rolls back and returns traffic.ErrRolledBack
	res, err := p.Promote(ctx, pipeline.PromoteInput{})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.State.Phase, res.Split)
	// END taste

	// Output:
	// v1.0.0 → api-prod-v1-0-0-1000000 map[api-prod-v1-0-0-1000000:100]
	// v1.1.0 → api-prod-v1-1-0-2000000 map[api-prod-v1-0-0-1000000:100 api-prod-v1-1-0-2000000:0]
	// Succeeded api-prod-v1-1-0-2000000=100%[stable],api-prod-v1-0-0-1000000=0%[prior]
}
