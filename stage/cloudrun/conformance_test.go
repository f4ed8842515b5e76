package cloudrun_test

import (
	"testing"

	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/stage/stagetest"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/traffictest"
)

// transports are the ways the backend reaches the emulator: gRPC (the
// default) and REST/JSON (WithREST), which the emulator transcodes.
var transports = map[string]func(testing.TB, []cloudrunfake.Option, ...cloudrun.Option) env{"grpc": newEnv, "rest": newRESTEnv}

// TestStageConformance runs the Stage contract against the Cloud Run
// implementation wired to the emulator, over gRPC and over REST.
func TestStageConformance(t *testing.T) {
	for name, newE := range transports {
		t.Run(name, func(t *testing.T) {
			stagetest.Run(t, func(t *testing.T) stagetest.Harness {
				e := newE(t, nil)
				return stagetest.Harness{Stage: e.svc, FailRevision: e.srv.FailRevision}
			})
		})
	}
}

// TestRouterConformance runs the Router contract against the Cloud Run
// implementation wired to the emulator, over gRPC and over REST.
func TestRouterConformance(t *testing.T) {
	for name, newE := range transports {
		t.Run(name, func(t *testing.T) {
			traffictest.Run(t, func(t *testing.T) (traffic.Router, traffictest.Seeder) {
				e := newE(t, nil)
				return e.svc, traffictest.DeploySeeder(e.svc)
			})
		})
	}
}
