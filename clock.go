package twostage

import (
	"context"
	"time"
)

// Clock is the source of time for everything that waits: backoff, bake
// steps, image polling. Inject a fake (package fake) in tests so nothing
// sleeps on the wall clock.
//
// Implementations must be safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d, or until ctx is done, in which case it returns
	// ctx.Err(). A d ≤ 0 returns at once (still reporting a done ctx).
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock returns the wall clock.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
