package stagetest_test

import (
	"testing"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/stage/stagetest"
)

// TestFakeService runs the Stage contract against the in-memory fake.
func TestFakeService(t *testing.T) {
	stagetest.Run(t, func(t *testing.T) stagetest.Harness {
		svc := fake.NewService("api")
		return stagetest.Harness{Stage: svc, FailRevision: svc.FailRevision}
	})
}
