// Package traffictest is a conformance suite for [traffic.Router]
// implementations: the same contract tests run against the in-memory fake
// (fake.Service) and against the Cloud Run implementation
// (stage/cloudrun) wired to the emulator (fake/cloudrunfake), which proves
// that the fake does not drift from the real client's behaviour.
//
// Call [Run] from a test:
//
//	func TestRouter(t *testing.T) {
//		traffictest.Run(t, func(t *testing.T) (traffic.Router, traffictest.Seeder) {
//			svc := fake.NewService("api")
//			return svc, traffictest.DeploySeeder(svc)
//		})
//	}
package traffictest
