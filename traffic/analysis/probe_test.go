package analysis_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
	"golang.org/x/oauth2"
)

func TestProbe(t *testing.T) {
	t.Parallel()
	var candHits, stableHits atomic.Int64
	candSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || r.Header.Get("User-Agent") != "twostage-probe" {
			t.Errorf("candidate got %s %q", r.URL.Path, r.Header.Get("User-Agent"))
		}
		// Every other request fails.
		if candHits.Add(1)%2 == 0 {
			http.Error(w, "boom", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(candSrv.Close)
	stableSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stableHits.Add(1)
		http.Error(w, "not found is not a server error", http.StatusNotFound)
	}))
	t.Cleanup(stableSrv.Close)

	clk := fake.NewClock(t0)
	p, err := analysis.NewProbe(
		analysis.ProbeTarget{Revision: stable, URL: stableSrv.URL},
		analysis.ProbeTarget{Revision: cand, URL: candSrv.URL},
		analysis.WithClock(clk), analysis.WithProbeClient(candSrv.Client()),
		analysis.WithProbePath("/healthz"), analysis.WithProbeRate(2), analysis.WithProbeCandidateShare(0.75))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	clk.At(t0.Add(10*time.Second), func(time.Time) { cancel() })
	if err := p.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	// 2 req/s for 10s: 20 requests, 15 to the candidate.
	if got := clk.Sleeps(); len(got) != 20 || got[0] != 500*time.Millisecond {
		t.Errorf("sleeps = %v, want 20 of 500ms", got)
	}
	got, err := p.Counts(context.Background(), analysis.Query{Revisions: []string{cand, stable, "other"}, Start: t0, End: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := analysis.Counts{
		Revisions: map[string]analysis.Count{cand: {Requests: 15, Errors: 7}, stable: {Requests: 5}, "other": {}},
		Through:   t0.Add(10 * time.Second),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Counts mismatch (-want +got):\n%s", diff)
	}
	if candHits.Load() != 15 || stableHits.Load() != 5 {
		t.Errorf("hits: candidate %d, stable %d; want 15 and 5", candHits.Load(), stableHits.Load())
	}
	got, err = p.Counts(context.Background(), analysis.Query{Revisions: []string{cand}, Start: t0.Add(5 * time.Second), End: t0.Add(7 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if c := got.Revisions[cand]; c.Requests != 3 || !got.Through.Equal(t0.Add(7*time.Second)) {
		t.Errorf("window counts = %+v through %v, want 3 requests through +7s", c, got.Through)
	}
	if _, err := p.Counts(context.Background(), analysis.Query{}); !errors.Is(err, analysis.ErrNoRevisions) {
		t.Errorf("Counts(no revisions) = %v, want ErrNoRevisions", err)
	}
}

// TestProbeUnreachable: a candidate that does not answer counts as failing,
// and the Sequential gate fed by the probe rolls it back.
func TestProbeUnreachable(t *testing.T) {
	t.Parallel()
	stableSrv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(stableSrv.Close)
	dead := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	deadURL := dead.URL
	dead.Close()

	clk := fake.NewClock(t0)
	p, err := analysis.NewProbe(analysis.ProbeTarget{Revision: stable, URL: stableSrv.URL}, analysis.ProbeTarget{Revision: cand, URL: deadURL},
		analysis.WithClock(clk), analysis.WithProbeClient(stableSrv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	primary := analysis.NewScript(clk, 3*time.Minute)
	g, err := analysis.NewSequential(primary, analysis.WithProbe(p), analysis.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var v traffic.Verdict
	clk.OnSleep(func(now time.Time) {
		if ctx.Err() != nil {
			return
		}
		var err error
		v, err = g.Check(ctx, check(1, 5, t0, now))
		if err != nil {
			t.Error(err)
		}
		if v.Outcome == traffic.Fail || now.Sub(t0) > time.Minute {
			cancel()
		}
	})
	_ = p.Run(ctx)
	if v.Outcome != traffic.Fail || clk.Now().Sub(t0) > 5*time.Second {
		t.Errorf("after %v: %s %q, want a failure within 5s", clk.Now().Sub(t0), v.Outcome, v.Reason)
	}
}

func TestNewProbeInvalid(t *testing.T) {
	t.Parallel()
	ok := analysis.ProbeTarget{Revision: stable, URL: "https://stable---svc-abc-ew.a.run.app"}
	okc := analysis.ProbeTarget{Revision: cand, URL: "https://candidate---svc-abc-ew.a.run.app"}
	tests := []struct {
		name      string
		s, c      analysis.ProbeTarget
		opts      []analysis.Option
		wantError bool
	}{
		{"valid", ok, okc, nil, false},
		{"no revision", analysis.ProbeTarget{URL: ok.URL}, okc, nil, true},
		{"bad url", ok, analysis.ProbeTarget{Revision: cand, URL: "candidate"}, nil, true},
		{"ftp", ok, analysis.ProbeTarget{Revision: cand, URL: "ftp://x"}, nil, true},
		{"same revision", ok, analysis.ProbeTarget{Revision: stable, URL: okc.URL}, nil, true},
		{"zero rate", ok, okc, []analysis.Option{analysis.WithProbeRate(0)}, true},
		{"share 1", ok, okc, []analysis.Option{analysis.WithProbeCandidateShare(1)}, true},
	}
	for _, tt := range tests {
		_, err := analysis.NewProbe(tt.s, tt.c, tt.opts...)
		if tt.wantError != errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("%s: NewProbe error %v, want ErrInvalid: %v", tt.name, err, tt.wantError)
		}
	}
}

type failingTokens struct{}

func (failingTokens) Token() (*oauth2.Token, error) { return nil, errors.New("no credentials") }

// TestProbeTokenSource: with a token source every request carries the
// bearer token; a token that cannot be had sends and counts nothing.
func TestProbeTokenSource(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	authed := func(status int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			if r.Header.Get("Authorization") != "Bearer idt-1" {
				http.Error(w, "forbidden", http.StatusForbidden)
				return
			}
			w.WriteHeader(status)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	candSrv, stableSrv := authed(http.StatusServiceUnavailable), authed(http.StatusOK)
	run := func(ts oauth2.TokenSource) analysis.Counts {
		t.Helper()
		clk := fake.NewClock(t0)
		p, err := analysis.NewProbe(analysis.ProbeTarget{Revision: stable, URL: stableSrv.URL}, analysis.ProbeTarget{Revision: cand, URL: candSrv.URL},
			analysis.WithClock(clk), analysis.WithProbeTokenSource(ts))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		clk.At(t0.Add(5*time.Second), func(time.Time) { cancel() })
		if err := p.Run(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
		got, err := p.Counts(context.Background(), analysis.Query{Revisions: []string{cand, stable}, Start: t0, End: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// 2 req/s for 5 s: 10 requests, the 10th to the stable; the candidate
	// fails once it is let in.
	got := run(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "idt-1"}))
	want := analysis.Counts{Revisions: map[string]analysis.Count{cand: {Requests: 9, Errors: 9}, stable: {Requests: 1}}, Through: t0.Add(5 * time.Second)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("with an ID token (-want +got):\n%s", diff)
	}
	before := hits.Load()
	got = run(failingTokens{})
	want = analysis.Counts{Revisions: map[string]analysis.Count{cand: {}, stable: {}}, Through: t0.Add(5 * time.Second)}
	if diff := cmp.Diff(want, got); diff != "" || hits.Load() != before {
		t.Errorf("without a token: %d requests reached the servers; counts (-want +got):\n%s", hits.Load()-before, diff)
	}
}
