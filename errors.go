package twostage

import "errors"

// Sentinel errors shared by every package of the module. Implementations wrap
// them with %w (keeping the original cause, such as a gRPC status, in the
// chain), so callers test with errors.Is regardless of the backend: the
// in-memory fakes, the GCP implementations and the emulators all return the
// same sentinels for the same situation.
var (
	// ErrNotFound reports that a named thing (image tag, revision, service,
	// pool, binding) does not exist. gRPC NOT_FOUND and HTTP 404 map here.
	ErrNotFound = errors.New("not found")

	// ErrConflict reports a lost optimistic-concurrency race: the state
	// changed since it was read (a stale etag or Split.Version). The caller
	// should re-read and decide again; blind retries are never safe.
	// gRPC FAILED_PRECONDITION caused by an etag mismatch, ABORTED and
	// ALREADY_EXISTS of a differently configured revision map here.
	ErrConflict = errors.New("conflict")

	// ErrInvalid reports bad input: a malformed reference, revision name,
	// split or plan. The message names the bad value and, where possible,
	// the fix. gRPC INVALID_ARGUMENT maps here.
	ErrInvalid = errors.New("invalid")

	// ErrPolicy reports that a release rule refused the action, for example
	// a deploy from an unexpected branch or a digest that differs from the
	// one that ran in dev. gRPC PERMISSION_DENIED does not map here: a
	// policy is ours, a permission is the cloud's.
	ErrPolicy = errors.New("refused by policy")

	// ErrNotReady reports that a revision failed to become ready, or never
	// did within the caller's deadline.
	ErrNotReady = errors.New("not ready")
)
