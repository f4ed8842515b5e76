package prober

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
)

// TagURLFunc returns the URL of revision's tag, the address that reaches
// that revision whatever the split (Cloud Run:
// https://TAG---SERVICE-HASH-REGION.a.run.app).
type TagURLFunc func(ctx context.Context, revision, tag string) (string, error)

// GetterTagURLs resolves tag URLs through a stage that can read one
// revision (stage/cloudrun's Service and fake.Service are
// [stage.Getter]s): the URL of tag among the revision's TagURLs. A revision
// that does not carry the tag yields an error wrapping
// twostage.ErrNotFound.
func GetterTagURLs(g stage.Getter) TagURLFunc {
	return func(ctx context.Context, revision, tag string) (string, error) {
		rev, err := g.Revision(ctx, revision)
		if err != nil {
			return "", fmt.Errorf("reading revision %q for its %q tag URL: %w", revision, tag, err)
		}
		u, ok := rev.TagURLs[tag]
		if !ok || u == "" {
			return "", fmt.Errorf("revision %q has no %q tag URL (its tags: %v); a rollout tags the candidate %q and the stable %q on its first step: %w",
				revision, tag, keys(rev.TagURLs), traffic.TagCandidate, traffic.TagStable, twostage.ErrNotFound)
		}
		return u, nil
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Option configures [New].
type Option func(*Prober)

// WithClock sets the clock the probe paces its requests with and
// measures idleness on. The default is twostage.SystemClock(). A nil c
// keeps the default.
func WithClock(c twostage.Clock) Option {
	return func(p *Prober) {
		if c != nil {
			p.clock = c
		}
	}
}

// WithIdle sets how long the probe keeps running with no gate check
// before it stops by itself: the end of a rollout that succeeded (the
// rollout asks no gate at 100%) or was abandoned. Keep it above the gate
// interval. The default is 1 minute.
func WithIdle(d time.Duration) Option { return func(p *Prober) { p.idle = d } }

// WithLogger sets the logger for starting and stopping probes and
// for tag URLs that cannot be resolved. The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(p *Prober) {
		if l != nil {
			p.log = l
		}
	}
}

// WithProbeOptions sets the options of each [analysis.Probe] the prober
// starts (rate, candidate share, path, HTTP client). The default is none:
// analysis.NewProbe's defaults, 2 requests per second, 9 of 10 to the
// candidate. The prober sets the probe's clock itself (see
// [WithClock]). For a service that requires authentication, pass
// analysis.WithProbeTokenSource with an ID token source whose audience is
// the service's URL (idtoken.NewTokenSource, or impersonate.IDTokenSource
// with keyless credentials).
func WithProbeOptions(opts ...analysis.Option) Option {
	return func(p *Prober) { p.probeOpts = append([]analysis.Option(nil), opts...) }
}

// Prober runs an [analysis.Probe] against the candidate's and the stable's
// tag URLs for the duration of a rollout, so that a sequential gate gets a
// signal with no reporting delay. It has two faces:
//
//   - [Prober.Gate] wraps the gate that reads the probe (typically an
//     analysis.Sequential): on a rollout's first check it resolves the tag
//     URLs of Check.Candidate (tag "candidate") and Check.Stable (tag
//     "stable") and starts the probe, then asks the wrapped gate;
//   - the Prober itself is the [analysis.Metrics] of the probe under way,
//     to give that gate with [analysis.WithProbe].
//
// The probe stops when a check names another rollout (another pair, or the
// same pair with another Check.Started) and starts anew for it, when the
// wrapped gate answers Fail (the rollout rolls back at once), when a check
// is at 100%, after [WithIdle] with no check (a rollout that
// succeeded is not asked again), or on [Prober.Stop]. Its counts stay
// readable after it stops, until another rollout's probe starts.
//
//	pr := prober.New(prober.GetterTagURLs(prod))
//	defer pr.Stop()
//	seq, err := analysis.NewSequential(primary, analysis.WithProbe(pr))
//	if err != nil { … }
//	p, err := pipeline.New(reg, repo, dev, prod, pipeline.WithGates(pr.Gate(seq)))
//
// A tag URL that cannot be resolved (for example a service whose name
// leaves no room for tags) leaves the rollout without a probe: the wrapped
// gate is still asked and the next check tries again.
//
// Prober is safe for concurrent use. Create one with [New].
type Prober struct {
	resolve   TagURLFunc
	clock     twostage.Clock
	idle      time.Duration
	log       *slog.Logger
	probeOpts []analysis.Option

	mu        sync.Mutex // guards every field below
	key       rolloutKey
	probe     *analysis.Probe // the current rollout's probe; nil before one starts
	lastCheck time.Time       // clock time of the latest check of key
	cancel    context.CancelFunc
	done      chan struct{} // closed when the running probe's goroutine ends; nil if none runs
	starts    int           // probes started, for tests
}

type rolloutKey struct {
	stable, candidate string
	started           time.Time
}

var _ analysis.Metrics = (*Prober)(nil)

// New returns a prober that finds tag URLs with resolve. It panics on a
// nil resolve (a programming error).
func New(resolve TagURLFunc, opts ...Option) *Prober {
	if resolve == nil {
		panic("prober: New with a nil TagURLFunc")
	}
	p := &Prober{resolve: resolve, clock: twostage.SystemClock(), idle: time.Minute, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if o != nil {
			o(p)
		}
	}
	return p
}

// Gate returns g with the probe's lifecycle around it; see [Prober] and
// the type [Gate].
func (p *Prober) Gate(g traffic.Gate) *Gate { return &Gate{p: p, g: g} }

// Gate is a gate that runs its [Prober]'s probe for the rollout it
// is asked about, then asks the gate it wraps, whose verdict it returns
// unchanged. Create one with [Prober.Gate].
type Gate struct {
	p *Prober
	g traffic.Gate
}

var (
	_ traffic.Gate    = (*Gate)(nil)
	_ traffic.Stopper = (*Gate)(nil)
)

// Check starts the probe of c's rollout if it does not run (stopping
// another rollout's), or stops it at 100%, then asks the wrapped gate; a
// Fail stops the probe, since the rollout rolls back.
func (pg *Gate) Check(ctx context.Context, c traffic.Check) (traffic.Verdict, error) {
	if c.Percent < 100 {
		pg.p.ensure(ctx, c)
	} else {
		pg.p.Stop()
	}
	v, err := pg.g.Check(ctx, c)
	if err == nil && v.Outcome == traffic.Fail {
		pg.p.Stop()
	}
	return v, err
}

// Stop stops the probe (see [Prober.Stop]); a caller that knows the
// rollout is over, such as one whose Run returned, calls it rather than
// wait for the idle time. It makes Gate a [traffic.Stopper], which
// pipeline.Pipeline.Promote stops when it returns.
func (pg *Gate) Stop() { pg.p.Stop() }

// ensure runs a probe for c's rollout, starting one if none runs for it.
func (p *Prober) ensure(ctx context.Context, c traffic.Check) {
	key := rolloutKey{stable: c.Stable, candidate: c.Candidate, started: c.Started}
	p.mu.Lock()
	p.lastCheck = p.clock.Now()
	same := p.probe != nil && p.key == key
	running := same && p.done != nil
	p.mu.Unlock()
	if running {
		return
	}
	if !same {
		p.Stop()
		probe, err := p.newProbe(ctx, c)
		if err != nil {
			p.log.Warn("rollout probe not started", "candidate", c.Candidate, "stable", c.Stable, "err", err)
			return
		}
		p.mu.Lock()
		if p.key != key || p.probe == nil {
			p.key, p.probe = key, probe
		}
		p.mu.Unlock()
	}
	p.start(key)
}

// newProbe resolves c's tag URLs and builds the probe.
func (p *Prober) newProbe(ctx context.Context, c traffic.Check) (*analysis.Probe, error) {
	cu, err := p.resolve(ctx, c.Candidate, traffic.TagCandidate)
	if err != nil {
		return nil, fmt.Errorf("resolving the candidate's tag URL: %w", err)
	}
	su, err := p.resolve(ctx, c.Stable, traffic.TagStable)
	if err != nil {
		return nil, fmt.Errorf("resolving the stable's tag URL: %w", err)
	}
	opts := append(append([]analysis.Option(nil), p.probeOpts...), analysis.WithClock(idleClock{p}))
	return analysis.NewProbe(analysis.ProbeTarget{Revision: c.Stable, URL: su}, analysis.ProbeTarget{Revision: c.Candidate, URL: cu}, opts...)
}

// start runs the probe of key unless one runs already.
func (p *Prober) start(key rolloutKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.key != key || p.probe == nil || p.done != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.cancel, p.done = cancel, done
	p.starts++
	probe := p.probe
	p.log.Info("rollout probe started", "candidate", key.candidate, "stable", key.stable)
	go func() {
		defer close(done)
		err := probe.Run(ctx)
		p.mu.Lock()
		if p.done == done {
			p.cancel, p.done = nil, nil
		}
		p.mu.Unlock()
		cancel()
		if errors.Is(err, errIdle) {
			p.log.Info("rollout probe stopped: no gate check for a while", "candidate", key.candidate, "idle", p.idle)
		}
	}()
}

// idleClock is the prober's clock as its probes see it: a sleep fails with
// errIdle once no gate check came for the idle time, which ends the probe.
type idleClock struct{ p *Prober }

func (c idleClock) Now() time.Time { return c.p.clock.Now() }

func (c idleClock) Sleep(ctx context.Context, d time.Duration) error {
	c.p.mu.Lock()
	last := c.p.lastCheck
	c.p.mu.Unlock()
	if c.p.clock.Now().Sub(last) > c.p.idle {
		return errIdle
	}
	return c.p.clock.Sleep(ctx, d)
}

// errIdle ends a probe that no gate check asked for during the idle time.
var errIdle = errors.New("no gate check within the idle time")

// Stop stops the running probe, if any, and waits for it to end. The
// counts gathered stay readable. Stop may be called at any time, also
// more than once.
func (p *Prober) Stop() {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.cancel, p.done = nil, nil
	p.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Counts counts the current rollout's probe requests (see
// [analysis.Probe.Counts]) when q names its candidate or stable revision.
// Before any probe started, or for other revisions, it reports no data
// (zero counts, through q.Start), so a gate learns nothing from it.
func (p *Prober) Counts(ctx context.Context, q analysis.Query) (analysis.Counts, error) {
	if err := ctx.Err(); err != nil {
		return analysis.Counts{}, err
	}
	if len(q.Revisions) == 0 {
		return analysis.Counts{}, fmt.Errorf("counting rollout probe requests: %w", analysis.ErrNoRevisions)
	}
	p.mu.Lock()
	probe, key := p.probe, p.key
	p.mu.Unlock()
	if probe != nil {
		for _, r := range q.Revisions {
			if r == key.candidate || r == key.stable {
				return probe.Counts(ctx, q)
			}
		}
	}
	out := analysis.Counts{Revisions: make(map[string]analysis.Count, len(q.Revisions)), Through: q.Start}
	for _, r := range q.Revisions {
		out.Revisions[r] = analysis.Count{}
	}
	return out, nil
}
