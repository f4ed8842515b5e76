package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/backoff"
	"github.com/twostage/twostage/internal/gcperr"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
)

// Target is one place [FanOut] deploys to: a stage (such as a Cloud Run
// service) in a region.
type Target struct {
	// Name identifies the target in results, errors, logs and progress,
	// such as "api/europe-west1". Names must be unique and non-empty.
	Name string
	// Region is the region whose write quota the target's deploys count
	// against, such as "europe-west1": the write rate is limited per region.
	Region string
	// Stage is where the release is deployed.
	Stage stage.Stage
}

// FanOutResult is the outcome of one target of a [FanOut].
type FanOutResult struct {
	// Target is the target, as given.
	Target Target
	// Revision is the deployed revision; zero if Err is set.
	Revision stage.Revision
	// Attempts is how many deploys were tried: 1, plus one per retry after
	// a transient failure such as RESOURCE_EXHAUSTED. 0 means the target
	// was never tried (the context ended first).
	Attempts int
	// Err is why the target failed, or nil.
	Err error
}

// DefaultWriteRate is the default write rate per region of [FanOut]: 60
// writes per minute, the Cloud Run Admin API write quota commonly observed
// per region (DESIGN.md: "Write quota is per minute per region (commonly
// 60)").
const DefaultWriteRate = rate.Limit(1) // per second: 60 per minute

// FanOutOption configures [FanOut].
type FanOutOption func(*fanOut)

type fanOut struct {
	concurrency int
	limit       rate.Limit
	burst       int
	attempts    int
	policy      backoff.Policy
	clock       twostage.Clock
	log         *slog.Logger
	progress    func(FanOutResult)
}

// WithConcurrency bounds how many deploys run at once across all targets.
// The default is 8.
func WithConcurrency(n int) FanOutOption { return func(f *fanOut) { f.concurrency = n } }

// WithWriteRate limits the deploys started per region to perRegion per
// second with bursts of burst, as a token bucket (golang.org/x/time/rate);
// every attempt of a deploy takes a token. A deploy of a new revision makes
// one write (Cloud Run: one UpdateService). The default is
// [DefaultWriteRate] (60 per minute) with a burst of 1: a bucket that never
// lets more than perRegion×W+burst writes through in any window W, so with
// burst 1 it stays within a quota of 60 writes in any sliding minute, which
// a larger burst would exceed right after its first minute.
func WithWriteRate(perRegion rate.Limit, burst int) FanOutOption {
	return func(f *fanOut) { f.limit, f.burst = perRegion, burst }
}

// WithFanOutRetry sets how many times one target's deploy is tried when it
// fails transiently (RESOURCE_EXHAUSTED, UNAVAILABLE, DEADLINE_EXCEEDED
// from the server), backing off between tries from initial, doubling up to
// max, with 20% jitter. The default is 5 attempts from 1s up to 1 minute,
// the length of a quota window.
func WithFanOutRetry(attempts int, initial, max time.Duration) FanOutOption {
	return func(f *fanOut) {
		f.attempts = attempts
		f.policy = backoff.Policy{Initial: initial, Max: max, Multiplier: 2}
	}
}

// WithFanOutClock sets the clock the rate limiter and the backoff wait on,
// so tests need not sleep. The default is twostage.SystemClock().
func WithFanOutClock(c twostage.Clock) FanOutOption { return func(f *fanOut) { f.clock = c } }

// WithFanOutLogger logs every target's outcome at Info level (failures at
// Warn) to l. The default discards.
func WithFanOutLogger(l *slog.Logger) FanOutOption { return func(f *fanOut) { f.log = l } }

// WithFanOutProgress calls fn with each target's result as the target
// finishes, for progress reports and audit trails. Calls are serialised,
// so fn need not be safe for concurrent use; it should return quickly. The
// default is none.
func WithFanOutProgress(fn func(FanOutResult)) FanOutOption {
	return func(f *fanOut) { f.progress = fn }
}

// FanOut deploys one release to many targets (services × regions) with at
// most [WithConcurrency] deploys at once and the deploys of each region
// limited by [WithWriteRate]. Targets of different regions are interleaved,
// so one region's quota does not hold up the others. A deploy that fails
// transiently (such as RESOURCE_EXHAUSTED when the quota is spent anyway) is
// retried with backoff ([WithFanOutRetry]); stage.Stage.Deploy is
// idempotent, so a retry creates no second revision.
//
// The targets, the release and the options are checked before any deploy,
// with errors wrapping twostage.ErrInvalid. FanOut returns one result per
// target, in the order given, and an error joining every target's error
// (errors.Join; each names its target), or nil when all succeeded. When ctx
// ends, targets not yet started fail with ctx's error and the deploys under
// way see the cancelled ctx.
func FanOut(ctx context.Context, targets []Target, rel stage.Release, opts ...FanOutOption) ([]FanOutResult, error) {
	f := &fanOut{
		concurrency: 8,
		limit:       DefaultWriteRate,
		burst:       1,
		attempts:    5,
		policy:      backoff.Policy{Initial: time.Second, Max: time.Minute, Multiplier: 2},
		clock:       twostage.SystemClock(),
		log:         slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(f)
	}
	if err := f.validate(targets, rel); err != nil {
		return nil, err
	}
	limiters := map[string]*rate.Limiter{}
	for _, t := range targets {
		if limiters[t.Region] == nil {
			limiters[t.Region] = rate.NewLimiter(f.limit, f.burst)
		}
	}

	results := make([]FanOutResult, len(targets))
	for i, t := range targets {
		results[i].Target = t
	}
	jobs := make(chan int)
	var (
		wg sync.WaitGroup
		mu sync.Mutex // serialises progress calls
	)
	for range min(f.concurrency, len(targets)) {
		wg.Go(func() {
			for i := range jobs {
				r := &results[i]
				r.Revision, r.Attempts, r.Err = f.deploy(ctx, limiters[r.Target.Region], r.Target, rel)
				f.report(ctx, &mu, *r)
			}
		})
	}
	started := make([]bool, len(targets))
feed:
	for _, i := range interleave(targets) {
		select {
		case jobs <- i:
			started[i] = true
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()

	var errs []error
	for i := range results {
		r := &results[i]
		if !started[i] {
			r.Err = ctx.Err()
			f.report(ctx, &mu, *r)
		}
		if r.Err != nil {
			r.Err = fmt.Errorf("pipeline: fan-out to %s (%s): %w", r.Target.Name, r.Target.Region, r.Err)
			errs = append(errs, r.Err)
		}
	}
	return results, errors.Join(errs...)
}

func (f *fanOut) validate(targets []Target, rel stage.Release) error {
	var errs []error
	switch {
	case f.concurrency < 1:
		errs = append(errs, invalid(fmt.Sprintf("WithConcurrency(%d): want at least 1", f.concurrency)))
	case f.limit <= 0 || f.burst < 1:
		errs = append(errs, invalid(fmt.Sprintf("WithWriteRate(%v, %d): want a positive rate and a burst of at least 1", f.limit, f.burst)))
	case f.attempts < 1:
		errs = append(errs, invalid(fmt.Sprintf("WithFanOutRetry: %d attempts: want at least 1 (1 disables retries)", f.attempts)))
	case f.clock == nil || f.log == nil:
		errs = append(errs, invalid("WithFanOutClock and WithFanOutLogger need non-nil values"))
	}
	if len(targets) == 0 {
		errs = append(errs, invalid("fan-out: no targets"))
	}
	// Region names such as "europe-west1" and "us-central1".
	regionRE := regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}[a-z0-9]$`)
	seen := map[string]bool{}
	for i, t := range targets {
		switch {
		case t.Name == "":
			errs = append(errs, invalid(fmt.Sprintf("fan-out: target %d has no name", i)))
		case seen[t.Name]:
			errs = append(errs, invalid(fmt.Sprintf("fan-out: target %d: name %q is used twice; give every target its own name", i, t.Name)))
		}
		seen[t.Name] = true
		if !regionRE.MatchString(t.Region) {
			errs = append(errs, invalid(fmt.Sprintf("fan-out: target %q: region %q is not a region name such as \"europe-west1\"", t.Name, t.Region)))
		}
		if t.Stage == nil {
			errs = append(errs, invalid(fmt.Sprintf("fan-out: target %q has no stage", t.Name)))
		}
	}
	if rel.Traffic != stage.RouteAll && rel.Traffic != stage.RouteNone {
		errs = append(errs, invalid(fmt.Sprintf("fan-out: release traffic %q is not %q or %q", rel.Traffic, stage.RouteAll, stage.RouteNone)))
	}
	if err := registry.ValidateDigest(rel.Artifact.Digest); err != nil {
		errs = append(errs, fmt.Errorf("pipeline: fan-out: the release's artifact: %w", err))
	}
	return errors.Join(errs...)
}

// deploy deploys rel to t, taking a token of the region's limiter before
// each attempt and backing off after a transient failure.
func (f *fanOut) deploy(ctx context.Context, lim *rate.Limiter, t Target, rel stage.Release) (stage.Revision, int, error) {
	var (
		rev      stage.Revision
		attempts int
	)
	err := backoff.Retry(ctx, f.clock, f.policy, f.attempts, gcperr.Retryable, func(ctx context.Context) error {
		if err := f.wait(ctx, lim); err != nil {
			return err
		}
		attempts++
		var err error
		rev, err = t.Stage.Deploy(ctx, rel)
		if err != nil && gcperr.Retryable(err) {
			f.log.InfoContext(ctx, "pipeline: fan-out deploy failed transiently; backing off", "target", t.Name, "region", t.Region, "attempt", attempts, "err", err)
		}
		return err
	})
	return rev, attempts, err
}

// wait takes a token of lim, sleeping on the injected clock until it is
// due (rate.Limiter.Wait would sleep on the wall clock).
func (f *fanOut) wait(ctx context.Context, lim *rate.Limiter) error {
	now := f.clock.Now()
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return fmt.Errorf("pipeline: fan-out: the write limiter cannot grant a token (burst %d): %w", lim.Burst(), twostage.ErrInvalid)
	}
	if d := r.DelayFrom(now); d > 0 {
		if err := f.clock.Sleep(ctx, d); err != nil {
			r.CancelAt(f.clock.Now())
			return err
		}
	}
	return ctx.Err()
}

func (f *fanOut) report(ctx context.Context, mu *sync.Mutex, r FanOutResult) {
	if r.Err != nil {
		f.log.WarnContext(ctx, "pipeline: fan-out target failed", "target", r.Target.Name, "region", r.Target.Region, "attempts", r.Attempts, "err", r.Err)
	} else {
		f.log.InfoContext(ctx, "pipeline: fan-out target deployed", "target", r.Target.Name, "region", r.Target.Region, "revision", r.Revision.Name, "attempts", r.Attempts)
	}
	if f.progress != nil {
		mu.Lock()
		f.progress(r)
		mu.Unlock()
	}
}

// interleave returns the indexes of targets ordered round-robin by region
// (in the order regions first appear), keeping each region's order.
func interleave(targets []Target) []int {
	var regions []string
	byRegion := map[string][]int{}
	for i, t := range targets {
		if byRegion[t.Region] == nil {
			regions = append(regions, t.Region)
		}
		byRegion[t.Region] = append(byRegion[t.Region], i)
	}
	out := make([]int, 0, len(targets))
	for len(out) < len(targets) {
		for _, reg := range regions {
			if q := byRegion[reg]; len(q) > 0 {
				out = append(out, q[0])
				byRegion[reg] = q[1:]
			}
		}
	}
	return out
}
