// Package backoff computes exponential backoff delays with jitter and
// retries transient failures on an injected clock.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/twostage/twostage"
)

// Policy describes exponential backoff with jitter. The zero value is
// usable: 250ms initial, 2× multiplier, 5s cap, 20% jitter.
type Policy struct {
	// Initial is the first delay (default 250ms).
	Initial time.Duration
	// Max caps each delay (default 5s).
	Max time.Duration
	// Multiplier grows the delay after each attempt (default 2).
	Multiplier float64
	// Jitter is the fraction (0..1) by which each delay is randomly
	// shortened, so that many clients do not retry in lockstep (default 0.2).
	// Delays never exceed the un-jittered value.
	Jitter float64
	// Rand returns a number in [0,1); default math/rand/v2.Float64. Tests
	// inject a fixed source for reproducible delays.
	Rand func() float64
}

func (p Policy) withDefaults() Policy {
	if p.Initial <= 0 {
		p.Initial = 250 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 5 * time.Second
	}
	if p.Multiplier < 1 {
		p.Multiplier = 2
	}
	if p.Jitter < 0 || p.Jitter > 1 {
		p.Jitter = 0.2
	} else if p.Jitter == 0 {
		p.Jitter = 0.2
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	return p
}

// Delay returns the delay before retry number attempt (0-based).
func (p Policy) Delay(attempt int) time.Duration {
	p = p.withDefaults()
	d := float64(p.Initial)
	for i := 0; i < attempt && d < float64(p.Max); i++ {
		d *= p.Multiplier
	}
	d = min(d, float64(p.Max))
	d -= d * p.Jitter * p.Rand()
	return time.Duration(d)
}

// FromRetry converts the module's public retry policy to a Policy and a
// number of attempts, taking r's zero fields from def (see
// [twostage.Retry.Or]). Attempts below 1 after the defaults are kept as
// they are, for the caller to refuse.
func FromRetry(r, def twostage.Retry) (Policy, int) {
	r = r.Or(def)
	return Policy{Initial: r.Initial, Max: r.Max, Multiplier: 2}, r.Attempts
}

// Retry calls fn until it succeeds, returns an error for which retryable is
// false, or attempts calls have been made (attempts ≤ 0 means until ctx is
// done). Between calls it sleeps on clock per p. It returns fn's last error,
// or ctx's error if the context ended while waiting (the last fn error is
// then lost only if fn never ran).
func Retry(ctx context.Context, clock twostage.Clock, p Policy, attempts int, retryable func(error) bool, fn func(ctx context.Context) error) error {
	var err error
	for i := 0; attempts <= 0 || i < attempts; i++ {
		if err = fn(ctx); err == nil || !retryable(err) {
			return err
		}
		if attempts > 0 && i == attempts-1 {
			break
		}
		if serr := clock.Sleep(ctx, p.Delay(i)); serr != nil {
			return err
		}
	}
	return err
}
