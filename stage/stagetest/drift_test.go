package stagetest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/stage/stagetest"
)

// driftEnv names the broken stage a re-executed test binary runs the suite
// against.
const driftEnv = "STAGETEST_DRIFT"

type broken struct {
	funcs    fake.ServiceFuncs
	mustFail string
}

// brokenStages are fakes with one contract violation each, and a subtest of
// the suite that must catch it.
func brokenStages() map[string]broken {
	deploy := func(edit func(*stage.Release)) fake.ServiceFuncs {
		return fake.ServiceFuncs{Deploy: func(ctx context.Context, _ int, next fake.ServiceBackend, r stage.Release) (stage.Revision, error) {
			edit(&r)
			return next.Deploy(ctx, r)
		}}
	}
	return map[string]broken{
		"routes-none-as-all": {deploy(func(r *stage.Release) {
			if r.Traffic == stage.RouteNone {
				r.Traffic = stage.RouteAll
			}
		}), "RouteNoneKeepsWhoServes"},
		"drops-tags":   {deploy(func(r *stage.Release) { r.Tags = nil }), "TagURLs"},
		"drops-labels": {deploy(func(r *stage.Release) { r.Labels = nil }), "LabelsAreSet"},
		// Overrides left out of the revision's identity: a re-deploy under
		// the same name with other settings is adopted.
		"drops-overrides": {deploy(func(r *stage.Release) { r.Overrides = stage.Overrides{} }), "OtherOverridesConflict"},
	}
}

// TestSuiteCatchesDrift proves the suite can fail: it runs the suite, in a
// child process, against stages that each break one rule, and expects the
// matching subtest to fail.
func TestSuiteCatchesDrift(t *testing.T) {
	if v := os.Getenv(driftEnv); v != "" {
		b := brokenStages()[v]
		stagetest.Run(t, func(t *testing.T) stagetest.Harness {
			svc := fake.NewService("api", fake.WithServiceFuncs(b.funcs))
			return stagetest.Harness{Stage: svc, FailRevision: svc.FailRevision}
		})
		return
	}
	for name, b := range brokenStages() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSuiteCatchesDrift$", "-test.v")
			cmd.Env = append(os.Environ(), driftEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed against a stage that %s:\n%s", name, out)
			}
			if want := "--- FAIL: TestSuiteCatchesDrift/" + b.mustFail + " "; !strings.Contains(string(out), want) {
				t.Errorf("the suite against a stage that %s did not report %q:\n%s", name, want, out)
			}
		})
	}
}
