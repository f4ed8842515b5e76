// Package registrytest is a conformance suite for implementations of
// [registry.Registry]. Run it from a backend's tests so that every backend,
// the in-memory fake and the emulators, provably behaves alike:
//
//	func TestConformance(t *testing.T) {
//		registrytest.Run(t, func(t *testing.T) (registry.Registry, string) {
//			return newBackend(t), "127.0.0.1:5000/project/repo"
//		})
//	}
package registrytest
