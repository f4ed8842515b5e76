package cloudrun_test

import (
	"testing"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/stage/cloudrun"
)

const (
	project  = "proj"
	region   = "europe-west1"
	svcShort = "api"
	svcName  = "projects/" + project + "/locations/" + region + "/services/" + svcShort
)

// Full gRPC method names, for the emulator's request log.
const (
	mGetService    = "/google.cloud.run.v2.Services/GetService"
	mUpdateService = "/google.cloud.run.v2.Services/UpdateService"
	mCreateService = "/google.cloud.run.v2.Services/CreateService"
	mGetRevision   = "/google.cloud.run.v2.Revisions/GetRevision"
	mListRevisions = "/google.cloud.run.v2.Revisions/ListRevisions"
	mGetOperation  = "/google.longrunning.Operations/GetOperation"
)

// env is a Service wired to a fresh emulator, with a fake clock.
type env struct {
	srv   *cloudrunfake.Server
	svc   *cloudrun.Service
	clock *fake.Clock
}

func newEnv(t testing.TB, srvOpts []cloudrunfake.Option, opts ...cloudrun.Option) env {
	t.Helper()
	srv, err := cloudrunfake.NewServer(srvOpts...)
	if err != nil {
		t.Fatalf("cloudrunfake.NewServer: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	clk := fake.NewClock(time.Time{})
	opts = append([]cloudrun.Option{
		cloudrun.WithClientOptions(srv.ClientOptions()...),
		cloudrun.WithClock(clk),
		cloudrun.WithRetry(twostage.Retry{Attempts: 5}),
		cloudrun.WithPollInterval(time.Second, 10*time.Second),
		cloudrun.WithJitter(func() float64 { return 0 }),
	}, opts...)
	svc, err := cloudrun.New(t.Context(), svcName, opts...)
	if err != nil {
		t.Fatalf("cloudrun.New: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	return env{srv: srv, svc: svc, clock: clk}
}

// counts returns how many calls of each method the emulator has seen.
func (e env) counts(methods ...string) map[string]int {
	out := make(map[string]int)
	for _, m := range methods {
		if n := e.srv.Count(m); n > 0 {
			out[m] = n
		}
	}
	return out
}

func allMethods() []string {
	return []string{mGetService, mUpdateService, mCreateService, mGetRevision, mListRevisions, mGetOperation}
}
