package progress

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/pipeline"
)

// Reporter prints progress to W. It is safe for concurrent use.
type Reporter struct {
	w     io.Writer
	live  bool
	clock twostage.Clock

	mu       sync.Mutex // guards what, deadline, dirty
	what     string
	deadline time.Time
	// expStart is when the wait Expect announced began; lastShown when it
	// was last reported.
	expStart, lastShown time.Time
	dirty               bool // a live line is on screen
	// bake gives each rollout step's bake (SetBakes); bakeStep and bakeEnd
	// are the step baking now and when its bake ends.
	bake     func(step int) time.Duration
	bakeStep int
	bakeEnd  time.Time
}

// SetBakes gives the bake of each rollout step (1-based), so that a bake,
// which the rollout waits out in gate-interval sleeps, is reported as one
// wait with the time left until the bake ends rather than each sleep's.
// The default knows no bakes.
func (r *Reporter) SetBakes(bake func(step int) time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bake = bake
}

// New returns a Reporter writing to w. live selects the '\r' line of a
// terminal; clock is the clock the pipeline waits on.
func New(w io.Writer, live bool, clock twostage.Clock) *Reporter {
	return &Reporter{w: w, live: live, clock: clock}
}

// Expect says what the next waits are for, until the next event or Expect;
// a non-zero deadline gives the remaining time ("remaining" is then time
// to the deadline, not to the end of one sleep).
func (r *Reporter) Expect(what string, deadline time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.what, r.deadline = what, deadline
	r.expStart, r.lastShown = time.Time{}, time.Time{}
}

// Record prints the event as a line and derives what comes next from it.
// It implements pipeline.Sink.
func (r *Reporter) Record(_ context.Context, e pipeline.AuditEvent) error {
	if e.Action == pipeline.ActionRefused {
		// A refusal is the command's error, which is printed once.
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clearLocked()
	line := fmt.Sprintf("%s %s", e.Action, e.Decision)
	if e.Revision != "" {
		line += " " + e.Revision
	}
	if e.Step > 0 {
		line += fmt.Sprintf(" step %d (%d%%)", e.Step, e.Percent)
	}
	if e.After != "" {
		line += " → " + e.After
	}
	if e.Reason != "" {
		line += ": " + e.Reason
	}
	fmt.Fprintln(r.w, line)
	began := r.expStart
	r.deadline, r.expStart, r.lastShown = time.Time{}, time.Time{}, time.Time{}
	switch {
	case e.Action == pipeline.ActionStep && e.Percent < 100:
		r.what = fmt.Sprintf("bake of step %d (%s at %d%%)", e.Step, e.Revision, e.Percent)
		r.bakeStep, r.bakeEnd = 0, time.Time{}
		if r.bake != nil && r.bake(e.Step) > 0 {
			at := e.Time
			if at.IsZero() {
				at = r.clock.Now()
			}
			r.bakeStep, r.bakeEnd = e.Step, at.Add(r.bake(e.Step))
			r.deadline = r.bakeEnd
		}
	case e.Action == pipeline.ActionGate && e.Decision == "pass" && e.Percent < 100:
		// The gates pass during the bake: the bake goes on.
		r.what = fmt.Sprintf("bake of step %d (%s at %d%%)", e.Step, e.Revision, e.Percent)
		if e.Step == r.bakeStep {
			r.deadline, r.expStart = r.bakeEnd, began
		}
	case e.Action == pipeline.ActionGate && e.Decision == "inconclusive":
		r.what = fmt.Sprintf("gates of step %d to be conclusive (%s)", e.Step, e.Reason)
		if e.Step == r.bakeStep && r.clock.Now().Before(r.bakeEnd) {
			// The step cannot pass before its bake ends anyway.
			r.deadline, r.expStart = r.bakeEnd, began
		}
	default:
		r.what = "a Cloud Run operation"
	}
	return nil
}

// Clock wraps inner so that every sleep is shown as a wait.
func (r *Reporter) Clock(inner twostage.Clock) twostage.Clock { return clock{r: r, inner: inner} }

type clock struct {
	r     *Reporter
	inner twostage.Clock
}

func (c clock) Now() time.Time { return c.inner.Now() }

// minShown is the shortest sleep CI logs mention (operation polls are
// shorter and would flood the log).
const minShown = 5 * time.Second

func (c clock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return c.inner.Sleep(ctx, d)
	}
	r := c.r
	r.mu.Lock()
	what, deadline, live := r.what, r.deadline, r.live
	r.mu.Unlock()
	if what == "" {
		what = "a Cloud Run operation"
	}
	start := c.inner.Now()
	end := start.Add(d)
	expect := !deadline.IsZero() && !deadline.Before(end)
	if !expect {
		deadline = end
	}
	tick := time.Minute
	if live {
		tick = time.Second
	}
	if expect {
		// A wait with a deadline (Expect) is made of many short sleeps
		// (polls with backoff): report the wait, not each sleep, at its
		// start and then every tick.
		r.mu.Lock()
		if r.expStart.IsZero() {
			r.expStart = start
		}
		due := r.lastShown.IsZero() || start.Sub(r.lastShown) >= tick
		if due {
			r.lastShown = start
		}
		began := r.expStart
		r.mu.Unlock()
		if due {
			r.line(live, fmt.Sprintf("waiting for %s: %s elapsed, %s left", what, round(start.Sub(began)), round(deadline.Sub(start))))
		}
		err := c.inner.Sleep(ctx, d)
		if err != nil {
			r.finish(live)
		}
		return err
	}
	show := live || d >= minShown
	if show {
		r.line(live, fmt.Sprintf("waiting for %s: %s remaining", what, round(deadline.Sub(start))))
	}
	for {
		now := c.inner.Now()
		left := end.Sub(now)
		if left <= 0 {
			break
		}
		if err := c.inner.Sleep(ctx, min(tick, left)); err != nil {
			r.finish(live)
			return err
		}
		now = c.inner.Now()
		if show && now.Before(end) {
			r.line(live, fmt.Sprintf("waiting for %s: %s elapsed, %s remaining", what, round(now.Sub(start)), round(deadline.Sub(now))))
		}
	}
	if show && !live {
		r.line(false, fmt.Sprintf("waited %s for %s", round(c.inner.Now().Sub(start)), what))
	}
	r.finish(live)
	return nil
}

func (r *Reporter) line(live bool, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if live {
		fmt.Fprintf(r.w, "\r\x1b[K%s", s)
		r.dirty = true
		return
	}
	fmt.Fprintln(r.w, s)
}

func (r *Reporter) finish(live bool) {
	if !live {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clearLocked()
}

func (r *Reporter) clearLocked() {
	if r.dirty {
		fmt.Fprint(r.w, "\r\x1b[K")
		r.dirty = false
	}
}

func round(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d.Round(time.Second)
}
