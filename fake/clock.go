package fake

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/twostage/twostage"
)

// defaultTime is where a Clock created from the zero time starts.
func defaultTime() time.Time { return time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC) }

// Clock is a controllable [twostage.Clock]. Time moves only when Sleep,
// Advance or Set move it; Sleep never blocks. Create one with [NewClock].
// Clock is safe for concurrent use.
type Clock struct {
	mu      sync.Mutex // guards now, sleeps and onSleep
	now     time.Time
	sleeps  []time.Duration
	onSleep []func(now time.Time)
}

var _ twostage.Clock = (*Clock)(nil)

// NewClock returns a clock reading t. The zero t starts the clock at
// 2026-01-01T00:00:00Z, so tests print stable times.
func NewClock(t time.Time) *Clock {
	if t.IsZero() {
		t = defaultTime()
	}
	return &Clock{now: t}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep returns ctx.Err() at once if ctx is done, and then neither records
// nor advances anything. Otherwise it records d (see [Clock.Sleeps]),
// advances the clock by d (not at all when d ≤ 0), calls the functions
// registered with [Clock.OnSleep] with the new time, and returns nil without
// blocking.
//
// Concurrent sleeps each advance the clock by their own d, one after the
// other.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	if d > 0 {
		c.now = c.now.Add(d)
	}
	now := c.now
	hooks := slices.Clone(c.onSleep)
	c.mu.Unlock()
	for _, f := range hooks {
		f(now)
	}
	return nil
}

// Advance moves the clock forward by d; a negative d moves it back. It does
// not count as a sleep: nothing is recorded and no OnSleep function runs.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t, forward or back. Like Advance, it is not a
// sleep.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Sleeps returns a copy of the d of every Sleep that did not fail, in call
// order, for asserting a backoff schedule.
func (c *Clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

// Slept returns the sum of the positive durations slept so far.
func (c *Clock) Slept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sum time.Duration
	for _, d := range c.sleeps {
		sum += max(d, 0)
	}
	return sum
}

// OnSleep registers f to be called after every later Sleep has advanced the
// clock, with the time the sleep ended at. Functions run in registration
// order, in the sleeping goroutine, with no lock of the clock held: f may
// call any method of the clock (a Sleep inside f calls the functions again,
// so guard against unbounded recursion) and of other fakes. This lets a test
// change the world at a point in time, for example make an image tag
// appear once the code under test has waited 3.3s:
//
//	start := clk.Now()
//	clk.OnSleep(func(now time.Time) {
//		if now.Sub(start) >= 3300*time.Millisecond {
//			reg.Seed(ref, digest) // idempotent, so calling it on every later sleep is fine
//		}
//	})
//
// See also [Clock.At] for a function that runs once.
func (c *Clock) OnSleep(f func(now time.Time)) {
	if f == nil {
		panic("fake: Clock.OnSleep with a nil function")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onSleep = append(c.onSleep, f)
}

// At registers f to run once, at the end of the first later Sleep that
// brings the clock to t or past it, with the time that sleep ended at. It is
// OnSleep with a time threshold, and the same rules apply: f runs in the
// sleeping goroutine with no lock held. Advance and Set do not trigger it;
// the next Sleep that finds the clock at or past t does.
func (c *Clock) At(t time.Time, f func(now time.Time)) {
	if f == nil {
		panic("fake: Clock.At with a nil function")
	}
	var once sync.Once
	c.OnSleep(func(now time.Time) {
		if !now.Before(t) {
			once.Do(func() { f(now) })
		}
	})
}
