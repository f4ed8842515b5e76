package traffictest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/traffictest"
)

// driftEnv names the broken router a re-executed test binary runs the
// suite against.
const driftEnv = "TRAFFICTEST_DRIFT"

// brokenRouters are fakes with one contract violation each, and a subtest
// of the suite that must catch it.
func brokenRouters() map[string]struct {
	funcs    fake.ServiceFuncs
	mustFail string
} {
	return map[string]struct {
		funcs    fake.ServiceFuncs
		mustFail string
	}{
		"drops-state": {fake.ServiceFuncs{SetSplit: func(ctx context.Context, _ int, next fake.ServiceBackend, s traffic.Split) (traffic.Split, error) {
			s.State = ""
			return next.SetSplit(ctx, s)
		}}, "StateRoundTripsInTheSameWrite"},
		"ignores-version": {fake.ServiceFuncs{SetSplit: func(ctx context.Context, _ int, next fake.ServiceBackend, s traffic.Split) (traffic.Split, error) {
			s.Version = ""
			return next.SetSplit(ctx, s)
		}}, "StaleVersionConflictsAndChangesNothing"},
	}
}

// TestSuiteCatchesDrift proves the suite can fail: it runs the suite, in a
// child process, against routers that each break one rule, and expects the
// matching subtest to fail.
func TestSuiteCatchesDrift(t *testing.T) {
	if v := os.Getenv(driftEnv); v != "" {
		b := brokenRouters()[v]
		traffictest.Run(t, func(t *testing.T) (traffic.Router, traffictest.Seeder) {
			svc := fake.NewService("api", fake.WithServiceFuncs(b.funcs))
			return svc, traffictest.DeploySeeder(svc)
		})
		return
	}
	for name, b := range brokenRouters() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSuiteCatchesDrift$", "-test.v")
			cmd.Env = append(os.Environ(), driftEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed against a router that %s:\n%s", name, out)
			}
			if want := "--- FAIL: TestSuiteCatchesDrift/" + b.mustFail + " "; !strings.Contains(string(out), want) {
				t.Errorf("the suite against a router that %s did not report %q:\n%s", name, want, out)
			}
		})
	}
}
