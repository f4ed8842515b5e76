package twostage_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// Every backend (the in-memory fakes, the GCP implementations, the
// emulators behind them) reports the same situations with the same
// sentinel errors, so callers branch with errors.Is whatever runs below.
func Example() {
	ctx := context.Background()
	reg := fake.NewRegistry()
	_, err := reg.Resolve(ctx, "registry.example.com/api:0123abc")
	fmt.Println("missing image:", errors.Is(err, twostage.ErrNotFound))

	svc := fake.NewService("api")
	_, err = svc.Deploy(ctx, stage.Release{Revision: "v1.4.2", Traffic: stage.RouteAll})
	fmt.Println("bad release:", errors.Is(err, twostage.ErrInvalid))

	a, err := reg.Push(ctx, "registry.example.com/api:0123abc", fake.NewImage("api"))
	if err != nil {
		panic(err)
	}
	if _, err := svc.Deploy(ctx, stage.Release{Artifact: a, Revision: "one", Traffic: stage.RouteAll}); err != nil {
		panic(err)
	}
	sp, err := svc.Split(ctx)
	if err != nil {
		panic(err)
	}
	if _, err := svc.SetSplit(ctx, sp); err != nil { // someone else writes first
		panic(err)
	}
	_, err = svc.SetSplit(ctx, sp)
	fmt.Println("stale version:", errors.Is(err, twostage.ErrConflict))

	_, err = traffic.NewRollout(svc, traffic.WithPlan(traffic.Plan{Steps: []traffic.Step{{Percent: 50}, {Percent: 100}}}))
	fmt.Println("unsafe plan:", errors.Is(err, twostage.ErrInvalid))
	// Output:
	// missing image: true
	// bad release: true
	// stale version: true
	// unsafe plan: true
}
