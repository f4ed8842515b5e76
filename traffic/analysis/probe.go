package analysis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/twostage/twostage"
	"golang.org/x/oauth2"
)

// ProbeTarget is a revision the [Probe] sends requests to, through its tag
// URL (Cloud Run: https://TAG---SERVICE-HASH-REGION.a.run.app).
type ProbeTarget struct {
	// Revision is the revision's name, the key of its counts.
	Revision string
	// URL is where requests for the revision are sent.
	URL string
}

// probeRetention is how long a probe keeps its results.
const probeRetention = 24 * time.Hour

// Probe sends a small, bounded rate of synthetic GET requests to a
// candidate and a stable revision and counts the answers: a transport
// error or a status of 500 or above is an error, anything else a success.
// It is a [Metrics] source with no reporting delay: a request counts at the
// time it was sent, as soon as it has been answered. Give it to
// [NewSequential] with [WithProbe] for a signal that does not wait for the
// delayed metrics.
//
// Probe is safe for concurrent use. Create one with [NewProbe] and start it
// with [Probe.Run].
type Probe struct {
	stable, candidate ProbeTarget
	client            *http.Client
	clock             twostage.Clock
	rate, share       float64
	path              string
	tokens            oauth2.TokenSource
	logger            *slog.Logger

	mu       sync.Mutex // guards results and inflight
	results  []probeResult
	inflight time.Time // send time of the request in flight; zero if none
}

type probeResult struct {
	at        time.Time
	candidate bool
	failed    bool
	latency   time.Duration // from sending to the end of the answer's body
}

var (
	_ Metrics        = (*Probe)(nil)
	_ LatencyMetrics = (*Probe)(nil)
)

// NewProbe returns a probe of stable and candidate. Options:
// [WithProbeClient], [WithProbeRate], [WithProbeCandidateShare],
// [WithProbePath], [WithProbeTokenSource], [WithClock], [WithLogger].
// Errors wrap twostage.ErrInvalid.
func NewProbe(stable, candidate ProbeTarget, opts ...Option) (*Probe, error) {
	cfg, err := newConfig(opts, forProbe, "probe")
	if err != nil {
		return nil, err
	}
	p := &Probe{
		stable: stable, candidate: candidate,
		client: cfg.client, clock: cfg.clock,
		rate: cfg.probeRate, share: cfg.probeShare, path: cfg.probePath,
		tokens: cfg.probeTokens, logger: cfg.logger,
	}
	for _, t := range []ProbeTarget{stable, candidate} {
		u, err := url.Parse(t.URL)
		if t.Revision == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("analysis: probe target %q at %q: want a revision name and an http(s) URL: %w", t.Revision, t.URL, twostage.ErrInvalid)
		}
	}
	if stable.Revision == candidate.Revision {
		return nil, fmt.Errorf("analysis: probe: stable and candidate are both %q: %w", stable.Revision, twostage.ErrInvalid)
	}
	return p, nil
}

// probeToStable reports whether request i (from 0) of a probe sending
// share of its requests to the candidate goes to the stable: the requests
// that complete another stable share, (1−share) per request, so the
// candidate comes first.
func probeToStable(i int, share float64) bool {
	s := 1 - share
	// The tolerance keeps 1−0.9 = 0.0999… from moving every tenth request
	// one place.
	return math.Floor(float64(i+1)*s+1e-9) > math.Floor(float64(i)*s+1e-9)
}

// Run sends requests until ctx is done, then returns ctx's error. Requests
// alternate between the targets so that the candidate gets its share of
// them, evenly spread and first (with the default 0.9, requests 1 to 9 of
// every ten go to the candidate, the tenth to the stable): a crashing
// candidate shows from the very first request.
func (p *Probe) Run(ctx context.Context) error {
	every := time.Duration(float64(time.Second) / p.rate)
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		toCandidate := !probeToStable(i, p.share)
		start := p.clock.Now()
		p.send(ctx, toCandidate, start)
		if err := p.clock.Sleep(ctx, every-p.clock.Now().Sub(start)); err != nil {
			return err
		}
	}
}

// send makes one request and records its outcome at start.
// settle marks the request in flight as over without a result.
func (p *Probe) settle() {
	p.mu.Lock()
	p.inflight = time.Time{}
	p.mu.Unlock()
}

func (p *Probe) send(ctx context.Context, toCandidate bool, start time.Time) {
	t := p.stable
	if toCandidate {
		t = p.candidate
	}
	p.mu.Lock()
	p.inflight = start
	p.mu.Unlock()

	failed := false
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL+p.path, nil)
	if err == nil && p.tokens != nil {
		tok, terr := p.tokens.Token()
		if terr != nil {
			// Our credentials, not the revision: send nothing, count
			// nothing.
			p.logger.Warn("probe: no token; request not sent", "revision", t.Revision, "err", terr)
			p.settle()
			return
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	}
	if err == nil {
		req.Header.Set("User-Agent", "twostage-probe")
		var resp *http.Response
		resp, err = p.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
			failed = resp.StatusCode >= 500
		}
	}
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			// Cancelled by our caller: not the revision's fault.
			p.settle()
			return
		}
		failed = true
		p.logger.Debug("probe request failed", "revision", t.Revision, "err", err)
	}
	latency := p.clock.Now().Sub(start)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight = time.Time{}
	p.results = append(p.results, probeResult{at: start, candidate: toCandidate, failed: failed, latency: latency})
	if cut := start.Add(-probeRetention); p.results[0].at.Before(cut) {
		i := sort.Search(len(p.results), func(i int) bool { return !p.results[i].at.Before(cut) })
		p.results = append(p.results[:0], p.results[i:]...)
	}
}

// Counts counts the probe's requests to the queried revisions sent in
// [q.Start, Through), where Through is q.End, or the clock's time if
// earlier, or the send time of a request still awaiting its answer if
// earlier still. Revisions the probe does not target count zero.
func (p *Probe) Counts(ctx context.Context, q Query) (Counts, error) {
	if err := ctx.Err(); err != nil {
		return Counts{}, err
	}
	if len(q.Revisions) == 0 {
		return Counts{}, fmt.Errorf("counting probe requests: %w", ErrNoRevisions)
	}
	var cand, stable Count
	through := p.scan(q, func(r probeResult) {
		c := &stable
		if r.candidate {
			c = &cand
		}
		c.Requests++
		if r.failed {
			c.Errors++
		}
	})
	return Counts{Revisions: byRevision(q.Revisions, p, cand, stable), Through: through}, nil
}

// byRevision maps each of revisions to the candidate's or the stable's
// value, or the zero value for a revision the probe does not send to.
func byRevision[T any](revisions []string, p *Probe, cand, stable T) map[string]T {
	out := make(map[string]T, len(revisions))
	for _, r := range revisions {
		var v T
		switch r {
		case p.candidate.Revision:
			v = cand
		case p.stable.Revision:
			v = stable
		}
		out[r] = v
	}
	return out
}

// scan calls f, under the lock, with every result sent in [q.Start,
// Through) and returns Through (see [Probe.Counts]).
func (p *Probe) scan(q Query, f func(probeResult)) time.Time {
	through := q.End
	if now := p.clock.Now(); now.Before(through) {
		through = now
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.inflight.IsZero() && p.inflight.Before(through) {
		through = p.inflight
	}
	if through.Before(q.Start) {
		through = q.Start
	}
	i := sort.Search(len(p.results), func(i int) bool { return !p.results[i].at.Before(q.Start) })
	for ; i < len(p.results) && p.results[i].at.Before(through); i++ {
		f(p.results[i])
	}
	return through
}

// Latencies returns the latencies of the probe's answered requests, as
// [Probe.Counts] counts them, in [DefaultLatencyBounds] buckets: the time
// from sending a request to the end of its answer's body, as the client
// sees it (network included, unlike Cloud Run's request_latencies, which
// the server measures). A request that failed without an answer counts
// with the time it took to fail.
func (p *Probe) Latencies(ctx context.Context, q Query) (Latencies, error) {
	if err := ctx.Err(); err != nil {
		return Latencies{}, err
	}
	if len(q.Revisions) == 0 {
		return Latencies{}, fmt.Errorf("reading probe latencies: %w", ErrNoRevisions)
	}
	bounds := DefaultLatencyBounds()
	cand := Histogram{Bounds: bounds, Counts: make([]int64, len(bounds)+1)}
	stable := Histogram{Bounds: bounds, Counts: make([]int64, len(bounds)+1)}
	through := p.scan(q, func(r probeResult) {
		h := stable
		if r.candidate {
			h = cand
		}
		i, found := slices.BinarySearch(bounds, r.latency)
		if found {
			i++
		}
		h.Counts[i]++
	})
	return Latencies{Revisions: byRevision(q.Revisions, p, cand, stable), Through: through}, nil
}
