package stagetest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/stage/stagetest"
)

// ExampleHarness shows a harness over the in-memory fake and the kind of
// behaviour the suite checks: a failing revision yields ErrNotReady.
func ExampleHarness() {
	svc := fake.NewService("api")
	h := stagetest.Harness{Stage: svc, FailRevision: svc.FailRevision}

	ctx := context.Background()
	h.FailRevision("api-a1", "container failed to start")
	_, err := h.Stage.Deploy(ctx, stage.Release{Artifact: stagetest.Artifact("a1"), Revision: "a1", Traffic: stage.RouteAll})
	fmt.Println(errors.Is(err, twostage.ErrNotReady))
	rev, err := h.Stage.Deploy(ctx, stage.Release{Artifact: stagetest.Artifact("b2"), Revision: "b2", Traffic: stage.RouteAll})
	fmt.Println(rev.Name, rev.Ready, err)
	// Output:
	// true
	// api-b2 true <nil>
}
