package cloudrun_test

import (
	"testing"

	"github.com/twostage/twostage/stage/stagetest"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/traffictest"
)

// TestStageConformance runs the Stage contract against the Cloud Run
// implementation wired to the emulator.
func TestStageConformance(t *testing.T) {
	stagetest.Run(t, func(t *testing.T) stagetest.Harness {
		e := newEnv(t, nil)
		return stagetest.Harness{Stage: e.svc, FailRevision: e.srv.FailRevision}
	})
}

// TestRouterConformance runs the Router contract against the Cloud Run
// implementation wired to the emulator.
func TestRouterConformance(t *testing.T) {
	traffictest.Run(t, func(t *testing.T) (traffic.Router, traffictest.Seeder) {
		e := newEnv(t, nil)
		return e.svc, traffictest.DeploySeeder(e.svc)
	})
}
