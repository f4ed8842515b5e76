package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/backoff"
)

// AwaitProgress describes one unsuccessful check made by [Await].
type AwaitProgress struct {
	// Ref is the reference being awaited.
	Ref string
	// Attempt is the 1-based number of the check that just failed.
	Attempt int
	// Elapsed is the time since Await started, on the injected clock.
	Elapsed time.Duration
	// NextIn is the delay before the next check.
	NextIn time.Duration
	// Err is the error of the check: one wrapping [twostage.ErrNotFound],
	// or a transient error that is being retried.
	Err error
}

// AwaitOption configures [Await].
type AwaitOption func(*awaitConfig)

type awaitConfig struct {
	clock    twostage.Clock
	progress func(AwaitProgress)
	logger   *slog.Logger
	policy   backoff.Policy
	timeout  time.Duration
}

// WithClock sets the clock Await sleeps on and measures elapsed time with.
// The default is [twostage.SystemClock].
func WithClock(c twostage.Clock) AwaitOption {
	return func(o *awaitConfig) { o.clock = c }
}

// WithProgress sets a function called after every unsuccessful check,
// before Await sleeps. It is called from the goroutine that called Await.
// The default is no callback.
func WithProgress(f func(AwaitProgress)) AwaitOption {
	return func(o *awaitConfig) { o.progress = f }
}

// WithLogger sets the logger that records each unsuccessful check at
// debug level. The default discards everything.
func WithLogger(l *slog.Logger) AwaitOption {
	return func(o *awaitConfig) { o.logger = l }
}

// WithInterval sets the first delay between checks and the cap the
// exponentially growing delay never exceeds. Each delay is shortened by up
// to 20% of jitter. The default is 250ms growing to 1s, so that an image is
// noticed within about a second of being pushed. Values ≤ 0 keep the
// default.
func WithInterval(initial, max time.Duration) AwaitOption {
	return func(o *awaitConfig) {
		if initial > 0 {
			o.policy.Initial = initial
		}
		if max > 0 {
			o.policy.Max = max
		}
	}
}

// WithTimeout bounds the wait, measured on the injected clock (see
// [WithClock]), in addition to the deadline of the context. When it
// expires the error wraps [context.DeadlineExceeded]. The default is no
// bound other than the context's.
func WithTimeout(d time.Duration) AwaitOption {
	return func(o *awaitConfig) { o.timeout = d }
}

// Await waits until ref, "HOST/PATH:TAG" or "HOST/PATH@sha256:…", resolves
// in r, and returns the artifact. It is how a release started from a git
// tag waits for the image the build of that commit is still pushing.
//
// Only [twostage.ErrNotFound] and transient errors ([twostage.IsTemporary]:
// backends mark unavailable, resource exhausted, HTTP 429/502/503/504 so)
// are waited on, with exponential backoff
// and jitter; any other error is returned at once. When ctx is done (or
// the [WithTimeout] bound passes) the error names the reference, how long
// was waited and how many checks were made, and wraps both the last check's
// error (so errors.Is(err, twostage.ErrNotFound) holds) and the context's
// error.
func Await(ctx context.Context, r Registry, ref string, opts ...AwaitOption) (Artifact, error) {
	cfg := awaitConfig{policy: backoff.Policy{Initial: 250 * time.Millisecond, Max: time.Second}}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.clock == nil {
		cfg.clock = twostage.SystemClock()
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.policy.Max < cfg.policy.Initial {
		cfg.policy.Max = cfg.policy.Initial
	}
	if _, err := ParseReference(ref); err != nil {
		return Artifact{}, fmt.Errorf("registry: awaiting image: %w", err)
	}
	start := cfg.clock.Now()
	var deadline time.Time
	if cfg.timeout > 0 {
		deadline = start.Add(cfg.timeout)
	}
	for attempt := 1; ; attempt++ {
		a, err := r.Resolve(ctx, ref)
		if err == nil {
			return a, nil
		}
		if ctx.Err() != nil && !errors.Is(err, twostage.ErrNotFound) {
			return Artifact{}, awaitExpired(ref, cfg.clock.Now().Sub(start), attempt, err, ctx.Err())
		}
		if !errors.Is(err, twostage.ErrNotFound) && !twostage.IsTemporary(err) {
			return Artifact{}, fmt.Errorf("registry: awaiting %s (check %d): %w", ref, attempt, err)
		}
		now := cfg.clock.Now()
		elapsed := now.Sub(start)
		next := cfg.policy.Delay(attempt - 1)
		if !deadline.IsZero() {
			if !now.Before(deadline) {
				return Artifact{}, awaitExpired(ref, elapsed, attempt, err, context.DeadlineExceeded)
			}
			// Make one last check at the deadline rather than oversleeping it.
			next = min(next, deadline.Sub(now))
		}
		p := AwaitProgress{Ref: ref, Attempt: attempt, Elapsed: elapsed, NextIn: next, Err: err}
		cfg.logger.LogAttrs(ctx, slog.LevelDebug, "awaiting image",
			slog.String("ref", ref), slog.Int("attempt", attempt),
			slog.Duration("elapsed", elapsed), slog.Duration("next_in", next),
			slog.String("error", err.Error()))
		if cfg.progress != nil {
			cfg.progress(p)
		}
		if serr := cfg.clock.Sleep(ctx, next); serr != nil {
			return Artifact{}, awaitExpired(ref, cfg.clock.Now().Sub(start), attempt, err, serr)
		}
	}
}

func awaitExpired(ref string, elapsed time.Duration, checks int, last, cause error) error {
	s := "s"
	if checks == 1 {
		s = ""
	}
	return fmt.Errorf("registry: gave up awaiting %s after %s and %d check%s: %w (%w)",
		ref, elapsed.Round(time.Millisecond), checks, s, last, cause)
}
