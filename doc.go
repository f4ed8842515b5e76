// Package twostage runs a "build once, promote by traffic" release pipeline
// on Google Cloud Run, and lets you test that pipeline hermetically against
// in-memory fakes and in-process emulators of the real APIs.
//
// # The model
//
//	main push ─► build ONCE ─► registry  IMAGE:<sha>  (digest D)
//	                               │
//	                               ├─► dev stage   revision <svc>-<sha7>   100% traffic
//	                               │
//	git tag vX.Y.Z ─► resolve <sha> → D ─► policies ─►
//	                   prod stage  revision <svc>-v1-4-2-<sha7>  0% traffic, tag "candidate"
//	                               │
//	                   promote: 5% ─gate─► 25% ─gate─► 100%, tag "stable"
//	                   breach  ─► re-route 100% to the previous stable revision (one write)
//
// The identity of an artifact is its digest: nothing is rebuilt or re-tagged
// between stages. Promotion is traffic migration and rollback is re-routing,
// never a redeploy.
//
// # Where things live
//
//   - [github.com/twostage/twostage/registry]: artifacts ([registry.Artifact]),
//     the [registry.Registry] interface and reference parsing.
//   - [github.com/twostage/twostage/stage]: the [stage.Stage] interface,
//     releases, revisions and revision-name derivation.
//   - [github.com/twostage/twostage/traffic]: traffic splits, the
//     [traffic.Router] interface, split algebra, rollout plans and gates.
//   - [github.com/twostage/twostage/pipeline]: Dev, Release, Promote,
//     Rollback and Status composed from the above, with policies and audit.
//   - [github.com/twostage/twostage/fake]: concurrency-safe in-memory fakes of
//     every interface, fault hooks and a controllable clock.
//
// Backends and the rest:
//
//   - [github.com/twostage/twostage/stage/cloudrun]: a Cloud Run service over
//     the official Admin API v2 client, both a Stage and a traffic Router.
//   - [github.com/twostage/twostage/registry/oci] and
//     [github.com/twostage/twostage/registry/artifactregistry]: registries
//     over go-containerregistry and the Artifact Registry API.
//   - [github.com/twostage/twostage/traffic/analysis]: health gates (a
//     sequential test against the stable revision, SLO thresholds, an active
//     probe); [github.com/twostage/twostage/traffic/analysis/cloudmonitoring]
//     reads Cloud Run request counts from Cloud Monitoring.
//   - [github.com/twostage/twostage/wif]: keyless auth from GitHub Actions
//     through Workload Identity Federation, and the trust configuration
//     declared in Go with plan/apply, simulate and lint.
//   - [github.com/twostage/twostage/fake/emulators]: in-process emulators of
//     Cloud Run, Artifact Registry (with an OCI registry), IAM, STS, Resource
//     Manager and Cloud Monitoring, served over real gRPC/HTTP on loopback;
//     fake/cmd/emulator runs them as a program.
//   - examples/quickstart (the whole story) and examples/twostage (the
//     reference CLI with GitHub Actions integration).
//
// The sentinel errors below are shared by every package; test for them with
// [errors.Is].
package twostage
