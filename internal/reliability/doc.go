// Package reliability holds the suites that prove the pipeline fails safe
// and converges, run against the in-process emulators (GitHub issue 8). It
// has no API for users: its tests are the point, and invariants.go holds
// the invariant checkers they share.
//
// What the suites prove:
//
//   - Fault matrix (TestFaultMatrix): for each flow (dev deploy with the
//     image push, release, promotion through every step, the same promotion
//     gated by the sequential test reading Cloud Monitoring, rollback of a
//     rollout under way, WIF apply with its bindings on the service
//     account, the project, both Cloud Run services and the Artifact
//     Registry repository, and the keyless
//     exchange of a dev job: the GitHub Actions OIDC token, the STS exchange
//     through the GitHub setup's provider and the impersonation at IAM
//     Credentials), for each call the flow makes to the
//     Cloud Run, Artifact Registry (API and OCI registry), Cloud Monitoring,
//     IAM, Resource Manager and STS / IAM Credentials emulators — found from the request log of a fault-free run,
//     not hard-coded — and for each fault (UNAVAILABLE, DEADLINE_EXCEEDED,
//     RESOURCE_EXHAUSTED, a conflict, INTERNAL, each both as an outage of
//     that method for the rest of the run and as a single blip the
//     retries must absorb, and a crash: the flow's context cancelled right
//     after the emulator accepted the call), the flow runs with the fault,
//     then runs again without it. A failed first run must keep the fault
//     in its error chain.
//     After every call the emulator answers, the state is checked: traffic
//     percents add up to 100, no traffic goes to a revision that is not
//     Ready, a release never changes who serves prod, the stable revision
//     keeps serving until a promotion finishes, the rollout state recorded
//     on the service is never lost nor moved backwards, and (WIF) policy
//     bindings made by others are never lost, and (keyless) no token is
//     ever issued to another principal than the dev identity or the
//     deployer it may impersonate. After the second run the
//     state must equal that of a fault-free run: same traffic, tags and
//     rollout phase, no extra (duplicate) revision, and the same image tags
//     pointing at the same digests in the registry. A single blip of a
//     transient kind must be absorbed by the retries, OCI registry calls
//     included (registry/oci retries on the injected clock). The test logs the
//     number of scenarios and invariant checks. Bugs found in other
//     packages are listed in knownBug with their fix; their scenarios still
//     check every invariant but skip the failing assertion.
//   - Races (TestConcurrentPipelines): 8 goroutines run dev deploys,
//     releases and promotions on the same services at once; no update is
//     lost (etags), every loser gets twostage.ErrConflict with a message
//     saying what changed, and the final state is valid.
//   - Leaks (TestNoGoroutineLeaks): the long-running parts (a rollout with
//     gates, a fan-out, the emulators and clients) leave no goroutine
//     behind once closed, checked with go.uber.org/goleak.
//   - Security (TestNoSecretsInOutput, TestInputsValidatedBeforeAnyCall):
//     a full run with secrets injected into the environment, the
//     overrides and the errors never prints a credential or token in a log
//     line or error; bad inputs from config are refused before any API
//     call (the emulator's request log stays empty).
//
// The emulators run on a fake clock, so no test sleeps on the wall clock.
package reliability
