package registrytest_test

import (
	"testing"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/registry/registrytest"
)

// TestFake proves the in-memory fake behaves like the real backends (see
// the oci and artifactregistry packages, which run the same suite).
func TestFake(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, func(t *testing.T) (registry.Registry, string) {
		return fake.NewRegistry(), "registry.example.com/project/repo"
	})
}

func BenchmarkResolveFake(b *testing.B) {
	reg := fake.NewRegistry()
	ref := "registry.example.com/project/repo/api:4f2c1e0"
	if _, err := reg.Push(b.Context(), ref, registrytest.Image(b, "bench")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Resolve(b.Context(), ref); err != nil {
			b.Fatal(err)
		}
	}
}
