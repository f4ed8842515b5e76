package traffictest_test

import (
	"testing"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/traffictest"
)

// TestFakeService runs the Router contract against the in-memory fake.
func TestFakeService(t *testing.T) {
	traffictest.Run(t, func(t *testing.T) (traffic.Router, traffictest.Seeder) {
		svc := fake.NewService("api")
		return svc, traffictest.DeploySeeder(svc)
	})
}
