package fanout

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
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
)

// Destination is one place [Deploy] deploys to: a stage (such as a Cloud
// Run service) in a region. (It was pipeline.Target, a name that collided
// with traffic.Target.)
type Destination struct {
	// Name identifies the target in results, errors, logs and progress,
	// such as "api/europe-west1". Names must be unique and non-empty.
	Name string
	// Region is the region whose write quota the target's deploys count
	// against, such as "europe-west1": the write rate is limited per region.
	Region string
	// Stage is where the release is deployed.
	Stage stage.Stage
}

// Result is the outcome of one destination of a [Deploy].
type Result struct {
	// Destination is the destination, as given.
	Destination Destination
	// Revision is the deployed revision; zero if Err is set.
	Revision stage.Revision
	// Attempts is how many deploys were tried: 1, plus one per retry after
	// a transient failure such as RESOURCE_EXHAUSTED. 0 means the target
	// was never tried (the context ended first).
	Attempts int
	// Err is why the target failed, or nil.
	Err error
}

// DefaultWriteRate is the default write rate per region of [Deploy]: 60
// writes per minute, the Cloud Run Admin API write quota commonly observed
// per region ("Write quota is per minute per region (commonly 60)";
// unverified as a figure: quotas vary per project).
const DefaultWriteRate = rate.Limit(1) // per second: 60 per minute

// Option configures [Deploy].
type Option func(*fanOut)

type fanOut struct {
	concurrency int
	limit       rate.Limit
	burst       int
	retry       twostage.Retry
	clock       twostage.Clock
	log         *slog.Logger
	progress    func(Result)
}

// WithConcurrency bounds how many deploys run at once across all targets.
// The default is 8.
func WithConcurrency(n int) Option { return func(f *fanOut) { f.concurrency = n } }

// WithWriteRate limits the deploys started per region to perRegion per
// second with bursts of burst, as a token bucket (golang.org/x/time/rate);
// every attempt of a deploy takes a token. A deploy of a new revision makes
// one write (Cloud Run: one UpdateService). The default is
// [DefaultWriteRate] (60 per minute) with a burst of 1: a bucket that never
// lets more than perRegion×W+burst writes through in any window W, so with
// burst 1 it stays within a quota of 60 writes in any sliding minute, which
// a larger burst would exceed right after its first minute.
func WithWriteRate(perRegion rate.Limit, burst int) Option {
	return func(f *fanOut) { f.limit, f.burst = perRegion, burst }
}

// WithRetry sets how one destination's deploy is retried when it fails
// transiently ([twostage.IsTemporary]: RESOURCE_EXHAUSTED, UNAVAILABLE,
// DEADLINE_EXCEEDED from the server, as the backends mark them), backing
// off between tries from r.Initial, doubling up to r.Max, with 20% jitter.
// The default is 5 attempts from 1s up to 1 minute, the length of a quota
// window; zero fields of r keep their default.
func WithRetry(r twostage.Retry) Option { return func(f *fanOut) { f.retry = r } }

// WithClock sets the clock the rate limiter and the backoff wait on, so
// tests need not sleep. The default is twostage.SystemClock().
func WithClock(c twostage.Clock) Option { return func(f *fanOut) { f.clock = c } }

// WithLogger logs every destination's outcome at Info level (failures at
// Warn) to l. The default discards.
func WithLogger(l *slog.Logger) Option { return func(f *fanOut) { f.log = l } }

// WithProgress calls fn with each destination's result as the destination
// finishes, for progress reports and audit trails. Calls are serialised,
// so fn need not be safe for concurrent use; it should return quickly. The
// default is none.
func WithProgress(fn func(Result)) Option {
	return func(f *fanOut) { f.progress = fn }
}

// defaultRetry is the retry policy unless [WithRetry] says otherwise.
func defaultRetry() twostage.Retry {
	return twostage.Retry{Attempts: 5, Initial: time.Second, Max: time.Minute}
}

// Deploy deploys one release to many destinations (services × regions) with at
// most [WithConcurrency] deploys at once and the deploys of each region
// limited by [WithWriteRate]. Targets of different regions are interleaved,
// so one region's quota does not hold up the others. A deploy that fails
// transiently (such as RESOURCE_EXHAUSTED when the quota is spent anyway) is
// retried with backoff ([WithRetry]); stage.Stage.Deploy is
// idempotent, so a retry creates no second revision.
//
// The targets, the release and the options are checked before any deploy,
// with errors wrapping twostage.ErrInvalid. Deploy returns one result per
// target, in the order given, and an error joining every target's error
// (errors.Join; each names its target), or nil when all succeeded. When ctx
// ends, targets not yet started fail with ctx's error and the deploys under
// way see the cancelled ctx.
func Deploy(ctx context.Context, targets []Destination, rel stage.Release, opts ...Option) ([]Result, error) {
	f := &fanOut{
		concurrency: 8,
		limit:       DefaultWriteRate,
		burst:       1,
		clock:       twostage.SystemClock(),
		log:         slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(f)
	}
	policy, attempts := backoff.FromRetry(f.retry, defaultRetry())
	if err := f.validate(targets, rel, attempts); err != nil {
		return nil, err
	}
	limiters := map[string]*rate.Limiter{}
	for _, t := range targets {
		if limiters[t.Region] == nil {
			limiters[t.Region] = rate.NewLimiter(f.limit, f.burst)
		}
	}

	results := make([]Result, len(targets))
	for i, t := range targets {
		results[i].Destination = t
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
				r.Revision, r.Attempts, r.Err = f.deploy(ctx, limiters[r.Destination.Region], r.Destination, rel, policy, attempts)
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
			r.Err = fmt.Errorf("fanout: fan-out to %s (%s): %w", r.Destination.Name, r.Destination.Region, r.Err)
			errs = append(errs, r.Err)
		}
	}
	return results, errors.Join(errs...)
}

func (f *fanOut) validate(targets []Destination, rel stage.Release, attempts int) error {
	var errs []error
	switch {
	case f.concurrency < 1:
		errs = append(errs, invalid(fmt.Sprintf("WithConcurrency(%d): want at least 1", f.concurrency)))
	case f.limit <= 0 || f.burst < 1:
		errs = append(errs, invalid(fmt.Sprintf("WithWriteRate(%v, %d): want a positive rate and a burst of at least 1", f.limit, f.burst)))
	case attempts < 1:
		errs = append(errs, invalid(fmt.Sprintf("WithRetry: %d attempts: want at least 1 (1 disables retries)", attempts)))
	case f.clock == nil || f.log == nil:
		errs = append(errs, invalid("WithClock and WithLogger need non-nil values"))
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
		errs = append(errs, fmt.Errorf("fanout: the release's artifact: %w", err))
	}
	return errors.Join(errs...)
}

// deploy deploys rel to t, taking a token of the region's limiter before
// each attempt and backing off after a transient failure.
func (f *fanOut) deploy(ctx context.Context, lim *rate.Limiter, t Destination, rel stage.Release, policy backoff.Policy, max int) (stage.Revision, int, error) {
	var (
		rev      stage.Revision
		attempts int
	)
	err := backoff.Retry(ctx, f.clock, policy, max, twostage.IsTemporary, func(ctx context.Context) error {
		if err := f.wait(ctx, lim); err != nil {
			return err
		}
		attempts++
		var err error
		rev, err = t.Stage.Deploy(ctx, rel)
		if err != nil && twostage.IsTemporary(err) {
			f.log.InfoContext(ctx, "fanout: deploy failed transiently; backing off", "target", t.Name, "region", t.Region, "attempt", attempts, "err", err)
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
		return fmt.Errorf("fanout: the write limiter cannot grant a token (burst %d): %w", lim.Burst(), twostage.ErrInvalid)
	}
	if d := r.DelayFrom(now); d > 0 {
		if err := f.clock.Sleep(ctx, d); err != nil {
			r.CancelAt(f.clock.Now())
			return err
		}
	}
	return ctx.Err()
}

func (f *fanOut) report(ctx context.Context, mu *sync.Mutex, r Result) {
	if r.Err != nil {
		f.log.WarnContext(ctx, "fanout: destination failed", "target", r.Destination.Name, "region", r.Destination.Region, "attempts", r.Attempts, "err", r.Err)
	} else {
		f.log.InfoContext(ctx, "fanout: destination deployed", "target", r.Destination.Name, "region", r.Destination.Region, "revision", r.Revision.Name, "attempts", r.Attempts)
	}
	if f.progress != nil {
		mu.Lock()
		f.progress(r)
		mu.Unlock()
	}
}

// interleave returns the indexes of targets ordered round-robin by region
// (in the order regions first appear), keeping each region's order.
func interleave(targets []Destination) []int {
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

func invalid(msg string) error { return fmt.Errorf("fanout: %s: %w", msg, twostage.ErrInvalid) }
