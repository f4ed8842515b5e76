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
// The sentinel errors below are shared by every package; test for them with
// [errors.Is].
package twostage
