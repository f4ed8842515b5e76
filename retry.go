package twostage

import (
	"context"
	"errors"
	"time"
)

// Retry is the one retry policy of the module: every package that retries
// transient failures takes it through its WithRetry option. Delays grow
// exponentially from Initial to Max with jitter and are slept on the
// package's injected [Clock]. Zero fields take the package's documented
// default.
type Retry struct {
	// Attempts is the number of calls, the first included: 1 turns retries
	// off, 0 takes the package's default.
	Attempts int
	// Initial is the delay before the first retry (0: the package default).
	Initial time.Duration
	// Max caps every delay (0: the package default).
	Max time.Duration
}

// Or returns r with its zero fields taken from def.
func (r Retry) Or(def Retry) Retry {
	if r.Attempts == 0 {
		r.Attempts = def.Attempts
	}
	if r.Initial <= 0 {
		r.Initial = def.Initial
	}
	if r.Max <= 0 {
		r.Max = def.Max
	}
	return r
}

// IsTemporary reports whether err is a transient failure worth retrying
// with backoff: some error in its chain has a Temporary() bool method that
// returns true (backends mark UNAVAILABLE, RESOURCE_EXHAUSTED, a server's
// DEADLINE_EXCEEDED and HTTP 429/502/503/504 this way at their boundary;
// go-containerregistry's transport errors carry the method too). The
// caller's own cancellation or deadline is never temporary, and neither is
// a conflict: the caller must re-read.
func IsTemporary(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrConflict) {
		return false
	}
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// MarkTemporary returns err marked as transient, so [IsTemporary] reports
// true for it; errors.Is and errors.As still reach err. A nil err returns
// nil. Fakes use it to inject a blip without speaking a transport's codes.
func MarkTemporary(err error) error {
	if err == nil {
		return nil
	}
	return temporary{err}
}

type temporary struct{ error }

func (t temporary) Unwrap() error   { return t.error }
func (t temporary) Temporary() bool { return true }
