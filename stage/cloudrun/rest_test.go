package cloudrun_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/stage/cloudrun"
)

// newRESTEnv is newEnv whose clients speak REST/JSON (WithREST) to the
// emulator's address, which serves REST beside gRPC.
func newRESTEnv(t testing.TB, srvOpts []cloudrunfake.Option, opts ...cloudrun.Option) env {
	t.Helper()
	e := newEnv(t, srvOpts)
	svc, err := cloudrun.New(t.Context(), svcName, append([]cloudrun.Option{
		cloudrun.WithREST(),
		cloudrun.WithClientOptions(option.WithEndpoint("http://"+e.srv.Addr), option.WithoutAuthentication()),
		cloudrun.WithClock(e.clock),
		cloudrun.WithRetry(twostage.Retry{Attempts: 5}),
		cloudrun.WithPollInterval(time.Second, 10*time.Second),
		cloudrun.WithJitter(func() float64 { return 0 }),
	}, opts...)...)
	if err != nil {
		t.Fatalf("cloudrun.New: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	e.svc = svc
	return e
}

// TestOperationPollingREST: over REST a pending operation is polled with
// GET /v2/{name=projects/*/locations/*/operations/*}, which the emulator
// serves through its gRPC Operations service (so every call is counted).
func TestOperationPollingREST(t *testing.T) {
	t.Parallel()
	e := newRESTEnv(t, []cloudrunfake.Option{cloudrunfake.WithManualOperations()})
	e.clock.OnSleep(func(time.Time) {
		if len(e.clock.Sleeps()) == 2 {
			e.srv.CompleteOperations()
		}
	})
	if rev := mustDeploy(t, e.svc, release("a1", stage.RouteAll)); !rev.Ready {
		t.Errorf("Deploy() = %+v, want ready", rev)
	}
	want := map[string]int{mGetService: 1, mUpdateService: 1, mGetOperation: 2}
	if diff := cmp.Diff(want, e.counts(allMethods()...)); diff != "" {
		t.Errorf("calls over REST mismatch (-want +got):\n%s", diff)
	}
}
