// Package fake provides in-memory, concurrency-safe fakes of the core
// interfaces of twostage, for tests and examples that must not touch the
// network or sleep:
//
//   - [Clock], a [twostage.Clock] that only moves when told to, and whose
//     Sleep advances time at once and records the duration, so a test can
//     assert a backoff schedule exactly;
//   - [Registry], a [registry.Registry] and [registry.Tagger] that keeps
//     tags and digests in memory, with optionally immutable tags;
//   - [Service], a Cloud Run-like service that is a [stage.Stage], a
//     [traffic.Router], a [stage.Lister] and a [stage.Namer] at once, and
//     follows Cloud Run's rules for revision names, adoption, readiness,
//     "--no-traffic" deploys and etag-conditional traffic writes.
//
// The fakes are state-based, not call scripts: they are seeded through their
// constructors ([WithDeployed], [WithTag]) and test helpers such as
// [Registry.Seed] and [Service.FailRevision], and inspected through methods
// that return copies ([Service.Snapshot], [Service.Calls], [Clock.Sleeps]).
// Every method is safe for concurrent use. [NewImage] builds small images
// with stable digests for tests and examples.
//
// A test changes the world at a point in simulated time with
// [Clock.OnSleep] or [Clock.At], for example making an image tag appear
// after the code under test has waited 3.3s. In-memory metrics for the
// analysis gates are analysis.Script, in package traffic/analysis.
//
// # Fault injection
//
// Each fake takes a struct of optional functions ([RegistryFuncs],
// [ServiceFuncs]), in the style of controller-runtime's interceptor.Funcs.
// A nil function passes the call through; a non-nil one is called instead of
// the fake's method with n, the 1-based number of calls of that method so
// far, and next, the fake without hooks, so failing only the second
// SetSplit is one line:
//
//	SetSplit: func(ctx context.Context, n int, next fake.ServiceBackend, s traffic.Split) (traffic.Split, error) {
//		if n == 2 {
//			return traffic.Split{}, twostage.ErrConflict
//		}
//		return next.SetSplit(ctx, s)
//	},
//
// Hooks run without any lock of the fake held, so they may call next or any
// method of the fake.
//
// # Fidelity
//
// Behaviour emulated from Cloud Run cites its source in the code: the
// run/apiv2/runpb field comments, or the "API facts" of the design document
// (DESIGN.md). Behaviour that could not be checked against a source is
// marked "unverified" where it is implemented. The emulators of the real
// APIs, served over gRPC, live in sub-packages such as fake/cloudrunfake.
package fake
