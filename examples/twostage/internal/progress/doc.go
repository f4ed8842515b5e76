// Package progress shows a person what the CLI is waiting for: every wait
// (a rollout step's bake, gates asked again, an image that has not been
// pushed yet, a Cloud Run operation) announces what is awaited, the time
// elapsed and the time remaining. On a terminal it is one live line
// rewritten with '\r'; in CI logs (GITHUB_ACTIONS, or not a terminal) it is
// plain lines at the start, at most once a minute, and at the end.
//
// It is driven by the pipeline's audit events (which say what comes next)
// and the injected clock (whose sleeps are the waits), so it shows the same
// thing on a simulated clock in tests.
package progress
