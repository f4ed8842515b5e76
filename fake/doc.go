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
// The emulators' coverage of the real APIs, RPC by RPC, is in PARITY.md
// in this directory, generated from the protos and the emulators and held
// current by TestParity.
//
// Behaviour emulated from Cloud Run cites its source in the code where one
// exists: the run/apiv2/runpb field comments or gcloud output quoted in
// public issues. The Cloud Run rules the fake and stage/cloudrun share
// (names, labels, tags, label carry-over) live in packages stage and
// traffic. These behaviours could not be checked against a source and are
// unverified:
//
//   - adopting a revision (same name, same template) leaves
//     latest_ready_revision where it was (cloudrunfake reads it the same
//     way);
//   - a reused revision name with a different template fails as
//     ALREADY_EXISTS "Revision named '…' with different configuration
//     already exists.", reported as [twostage.ErrConflict];
//   - a revision that fails to start: the operation fails with
//     FAILED_PRECONDITION "Revision '…' is not ready and cannot serve
//     traffic…", latest_ready_revision unchanged, the revision kept;
//   - a split naming a missing revision fails (its wording is ours), and
//     one sending traffic to a revision that is not ready fails with
//     Cloud Run's "is not ready and cannot serve traffic";
//   - an empty etag on a traffic write writes unconditionally (AIP-154
//     makes the etag optional; unverified for Cloud Run);
//   - "update-traffic --to-latest" keeps tags of entries that had traffic
//     as tag-only entries; "--no-traffic" pins each LATEST entry to the
//     latest ready revision with the same percent;
//   - tag URLs have the form "https://TAG---SERVICE-HASH-REGION.a.run.app";
//   - at most [stage.MaxLabels] labels per revision;
//   - the wording of the error a Registry with [WithImmutableTags] returns
//     when a tag would move (Artifact Registry's
//     docker_config.immutable_tags refuses it; its text is not known).
//
// The emulators of the real APIs, served over gRPC, live in sub-packages
// such as fake/cloudrunfake.
package fake
