// Package stagetest is a conformance suite for [stage.Stage]
// implementations that are also traffic routers: the same contract tests
// (deploy, adopt, conflict, no-traffic deploys, readiness, tags, listing)
// run against the in-memory fake (fake.Service) and against the Cloud Run
// implementation (stage/cloudrun) wired to the emulator
// (fake/cloudrunfake), which proves that the fake does not drift from the
// real client's behaviour.
//
// Call [Run] from a test:
//
//	func TestStage(t *testing.T) {
//		stagetest.Run(t, func(t *testing.T) stagetest.Harness {
//			svc := fake.NewService("api")
//			return stagetest.Harness{Stage: svc, FailRevision: svc.FailRevision}
//		})
//	}
package stagetest
