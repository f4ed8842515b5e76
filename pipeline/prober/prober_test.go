package prober

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
)

// tagServers stands in for the candidate's and the stable's tag URLs: the
// candidate answers status cand, the stable 200. Every request is reported
// on hits ("candidate" or "stable").
type tagServers struct {
	cand, stable *httptest.Server
	hits         chan string
}

func newTagServers(t *testing.T, cand int) *tagServers {
	t.Helper()
	ts := &tagServers{hits: make(chan string, 1<<16)}
	serve := func(name string, code int) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			select {
			case ts.hits <- name:
			default:
			}
			w.WriteHeader(code)
		}))
		t.Cleanup(s.Close)
		return s
	}
	ts.cand, ts.stable = serve("candidate", cand), serve("stable", http.StatusOK)
	return ts
}

// resolver maps any revision whose name starts with "cand" to the
// candidate server and any other to the stable one, and counts calls.
func (ts *tagServers) resolver(calls *[]string, mu *sync.Mutex) TagURLFunc {
	return func(_ context.Context, revision, tag string) (string, error) {
		mu.Lock()
		*calls = append(*calls, revision+"#"+tag)
		mu.Unlock()
		if strings.HasPrefix(revision, "cand") {
			return ts.cand.URL, nil
		}
		return ts.stable.URL, nil
	}
}

func (ts *tagServers) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		<-ts.hits
	}
}

// running reports whether a probe goroutine runs, and how many started.
func (p *Prober) running() (bool, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done != nil, p.starts
}

func outcomeGate(o *traffic.Outcome, mu *sync.Mutex) traffic.Gate {
	return traffic.GateFunc(func(context.Context, traffic.Check) (traffic.Verdict, error) {
		mu.Lock()
		defer mu.Unlock()
		return traffic.Verdict{Gate: "inner", Outcome: *o, Reason: string(*o)}, nil
	})
}

func TestProberLifecycle(t *testing.T) {
	t.Parallel()
	ts := newTagServers(t, http.StatusInternalServerError)
	clk := fake.NewClock(time.Time{})
	var (
		mu      sync.Mutex
		calls   []string
		outcome = traffic.Inconclusive
	)
	pr := New(ts.resolver(&calls, &mu), WithClock(clk), WithIdle(1000*time.Hour),
		WithProbeOptions(analysis.WithProbeClient(ts.cand.Client())))
	t.Cleanup(pr.Stop)
	g := pr.Gate(outcomeGate(&outcome, &mu))
	ctx := context.Background()
	t0 := clk.Now()
	check := func(step, percent int, cand string, started time.Time) traffic.Verdict {
		t.Helper()
		v, err := g.Check(ctx, traffic.Check{Stable: "stable-1", Candidate: cand, Step: step, Percent: percent, Since: started, Now: clk.Now(), Started: started})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	expect := func(what string, wantRunning bool, wantStarts int) {
		t.Helper()
		if r, n := pr.running(); r != wantRunning || n != wantStarts {
			t.Errorf("%s: running %v after %d starts, want %v after %d", what, r, n, wantRunning, wantStarts)
		}
	}

	if v := check(1, 5, "cand-1", t0); v.Outcome != traffic.Inconclusive || v.Gate != "inner" {
		t.Errorf("first check: verdict %+v, want the inner gate's Inconclusive unchanged", v)
	}
	expect("first check", true, 1)
	ts.wait(t, 8)
	check(1, 5, "cand-1", t0)
	check(2, 25, "cand-1", t0) // a new step of the same rollout keeps the probe
	expect("later checks of the same rollout", true, 1)
	g.Stop()
	expect("Gate.Stop", false, 1)

	got, err := pr.Counts(ctx, analysis.Query{Revisions: []string{"cand-1", "stable-1"}, Start: t0, End: t0.Add(1000 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	c, s := got.Revisions["cand-1"], got.Revisions["stable-1"]
	n := c.Requests + s.Requests
	// Eight requests reached the servers; the last may have been cut by
	// Stop before its answer was recorded.
	if n < 7 || c.Errors != c.Requests || s.Errors != 0 || s.Requests != n/10 {
		t.Errorf("probe counts: candidate %+v, stable %+v; want ≥ 7 requests, 1 in 10 to the stable (the last of every ten), every candidate request failed and no stable one", c, s)
	}

	// A check of the stopped rollout restarts its probe; the counts go on.
	check(2, 25, "cand-1", t0)
	expect("a check after Stop", true, 2)
	ts.wait(t, 4)

	// Another rollout (a new Started) gets a probe of its own.
	t1 := clk.Now()
	check(1, 5, "cand-2", t1)
	expect("a new rollout", true, 3)
	mu.Lock()
	wantCalls := []string{"cand-1#candidate", "stable-1#stable", "cand-2#candidate", "stable-1#stable"}
	if diff := cmp.Diff(wantCalls, calls); diff != "" {
		t.Errorf("tag URL lookups mismatch (-want +got):\n%s", diff)
	}
	outcome = traffic.Fail
	mu.Unlock()
	// The old rollout's revisions are no longer probed.
	old, err := pr.Counts(ctx, analysis.Query{Revisions: []string{"cand-1"}, Start: t0, End: t0.Add(1000 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(analysis.Counts{Revisions: map[string]analysis.Count{"cand-1": {}}, Through: t0}, old); diff != "" {
		t.Errorf("counts of a past rollout mismatch (-want +got):\n%s", diff)
	}

	// A failing verdict rolls the rollout back: the probe stops at once.
	if v := check(1, 5, "cand-2", t1); v.Outcome != traffic.Fail {
		t.Errorf("verdict %v, want the inner gate's Fail", v.Outcome)
	}
	expect("a failing check", false, 3)

	// At 100% there is nothing left to compare: no probe.
	mu.Lock()
	outcome = traffic.Pass
	mu.Unlock()
	check(3, 100, "cand-2", t1)
	expect("a check at 100%", false, 3)
}

// TestProberIdle: with no check, the probe stops by itself once the idle
// time has passed on its clock (a rollout that succeeded asks no more).
func TestProberIdle(t *testing.T) {
	t.Parallel()
	ts := newTagServers(t, http.StatusOK)
	clk := fake.NewClock(time.Time{})
	var (
		mu      sync.Mutex
		calls   []string
		outcome = traffic.Pass
	)
	pr := New(ts.resolver(&calls, &mu), WithClock(clk), WithIdle(10*time.Second))
	t.Cleanup(pr.Stop)
	t0 := clk.Now()
	if _, err := pr.Gate(outcomeGate(&outcome, &mu)).Check(context.Background(), traffic.Check{Stable: "stable-1", Candidate: "cand-1", Step: 1, Percent: 5, Since: t0, Now: t0, Started: t0}); err != nil {
		t.Fatal(err)
	}
	pr.mu.Lock()
	done := pr.done
	pr.mu.Unlock()
	if done == nil {
		t.Fatal("no probe started")
	}
	<-done // ends by itself: nothing else stops it
	// One request every 500ms from t0; the sleep after the request at
	// t0+10.5s finds the last check more than 10s old. The counts reach up
	// to the clock's time, so the 21 requests before t0+10.5s: 1 in 10 to
	// the stable (the 10th and the 20th).
	if got, want := clk.Now(), t0.Add(10500*time.Millisecond); !got.Equal(want) {
		t.Errorf("the probe stopped at %v, want %v", got, want)
	}
	got, err := pr.Counts(context.Background(), analysis.Query{Revisions: []string{"cand-1", "stable-1"}, Start: t0, End: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := analysis.Counts{Revisions: map[string]analysis.Count{"cand-1": {Requests: 19}, "stable-1": {Requests: 2}}, Through: t0.Add(10500 * time.Millisecond)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("idle probe counts mismatch (-want +got):\n%s", diff)
	}
	if r, _ := pr.running(); r {
		t.Error("the probe still runs after stopping for idleness")
	}
}

// TestProberUnresolved: without tag URLs the gate is still asked and no
// probe runs; the prober then reports no data.
func TestProberUnresolved(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(time.Time{})
	lookups := 0
	pr := New(func(_ context.Context, revision, tag string) (string, error) {
		lookups++
		return "", errors.New("no tag URL")
	}, WithClock(clk))
	t.Cleanup(pr.Stop)
	var mu sync.Mutex
	outcome := traffic.Pass
	g := pr.Gate(outcomeGate(&outcome, &mu))
	t0 := clk.Now()
	for i := range 2 {
		v, err := g.Check(context.Background(), traffic.Check{Stable: "s", Candidate: "c", Step: 1, Percent: 5, Since: t0, Now: t0, Started: t0})
		if err != nil || v.Outcome != traffic.Pass {
			t.Errorf("check %d: %v, %v; want the inner gate's Pass", i+1, v, err)
		}
	}
	if r, n := pr.running(); r || n != 0 || lookups != 2 {
		t.Errorf("running %v, %d starts, %d lookups; want no probe and a lookup per check", r, n, lookups)
	}
	got, err := pr.Counts(context.Background(), analysis.Query{Revisions: []string{"c", "s"}, Start: t0, End: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(analysis.Counts{Revisions: map[string]analysis.Count{"c": {}, "s": {}}, Through: t0}, got); diff != "" {
		t.Errorf("counts without a probe mismatch (-want +got):\n%s", diff)
	}
	if _, err := pr.Counts(context.Background(), analysis.Query{}); !errors.Is(err, analysis.ErrNoRevisions) {
		t.Errorf("Counts with no revisions: %v, want ErrNoRevisions", err)
	}
}

func TestGetterTagURLs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := fake.NewService("api", fake.WithURL("https://api-abc123xyz-ew.a.run.app"))
	for i, rel := range []stage.Release{
		{Revision: "stable", Traffic: stage.RouteAll},
		{Revision: "cand", Traffic: stage.RouteNone, Tags: []string{traffic.TagCandidate}},
	} {
		rel.Artifact = registry.Artifact{Repository: "registry.example.com/api", Digest: "sha256:" + strings.Repeat(string(rune('a'+i)), 64)}
		if _, err := svc.Deploy(ctx, rel); err != nil {
			t.Fatal(err)
		}
	}
	resolve := GetterTagURLs(svc)
	for _, tc := range []struct {
		rev, tag, want string
		err            error
	}{
		{rev: "api-cand", tag: traffic.TagCandidate, want: "https://candidate---api-abc123xyz-ew.a.run.app"},
		{rev: "api-stable", tag: traffic.TagStable, err: twostage.ErrNotFound}, // tagged on the rollout's first step
		{rev: "api-gone", tag: traffic.TagCandidate, err: twostage.ErrNotFound},
	} {
		got, err := resolve(ctx, tc.rev, tc.tag)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("resolve(%q, %q) = %q, %v; want %q, %v", tc.rev, tc.tag, got, err, tc.want, tc.err)
		}
	}
}

// TestProberRollout runs the real rollout engine with a sequential gate
// whose only evidence is the probe (the primary metrics stay empty, as with
// a long reporting delay): a candidate failing every request is rolled back
// on the probe's evidence, and the probe stops with the rollback.
func TestProberRollout(t *testing.T) {
	t.Parallel()
	ts := newTagServers(t, http.StatusServiceUnavailable)
	ctx := context.Background()
	rclk := fake.NewClock(time.Time{}) // the rollout's clock
	pclk := fake.NewClock(time.Time{}) // the probe's: it paces itself on its own
	t0 := rclk.Now()
	svc := fake.NewService("api", fake.WithClock(rclk))
	var names [2]string
	for i, rel := range []stage.Release{
		{Revision: "stable", Traffic: stage.RouteAll},
		{Revision: "cand", Traffic: stage.RouteNone, Tags: []string{traffic.TagCandidate}},
	} {
		rel.Artifact = registry.Artifact{Repository: "registry.example.com/api", Digest: "sha256:" + strings.Repeat(string(rune('a'+i)), 64)}
		rev, err := svc.Deploy(ctx, rel)
		if err != nil {
			t.Fatal(err)
		}
		names[i] = rev.Name
	}
	// Both tags exist on the service (checked through GetterTagURLs); the
	// requests go to the stand-in servers.
	tags := GetterTagURLs(svc)
	resolve := func(ctx context.Context, revision, tag string) (string, error) {
		if _, err := tags(ctx, revision, tag); err != nil {
			return "", err
		}
		if revision == names[1] {
			return ts.cand.URL, nil
		}
		return ts.stable.URL, nil
	}
	pr := New(resolve, WithClock(pclk), WithIdle(1000*time.Hour))
	t.Cleanup(pr.Stop)
	seq, err := analysis.NewSequential(analysis.NewScript(rclk, 0), analysis.WithProbe(pr), analysis.WithClock(rclk))
	if err != nil {
		t.Fatal(err)
	}
	// Each second of the rollout waits for two probe requests, so the two
	// clocks move together without any wall-clock wait.
	rclk.OnSleep(func(time.Time) {
		if r, _ := pr.running(); r {
			ts.wait(t, 2)
		}
	})
	ro, err := traffic.NewRollout(svc, traffic.WithGates(pr.Gate(seq)), traffic.WithClock(rclk), traffic.WithInterval(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ro.Run(ctx, names[1])
	var re *traffic.RolloutError
	if !errors.As(err, &re) || !errors.Is(err, traffic.ErrRolledBack) || re.Step != 1 {
		t.Fatalf("Run: %v, want a rollback at step 1", err)
	}
	if r, n := pr.running(); r || n != 1 {
		t.Errorf("after the rollback: probe running %v after %d starts, want stopped after 1", r, n)
	}
	if got := re.Verdicts[0].Numbers["candidate_errors"]; got < 1 || re.Verdicts[0].Numbers["primary_candidate_requests"] != 0 {
		t.Errorf("deciding verdict %+v: want candidate errors from the probe alone", re.Verdicts[0])
	}
	if elapsed := rclk.Now().Sub(t0); elapsed > time.Minute {
		t.Errorf("rolled back after %v, want well within the 5-minute bake", elapsed)
	}
}

// A rollout whose candidate fails every request, with metrics that have
// not arrived yet: the probe's requests to the candidate's tag URL are the
// evidence, and the rollout is rolled back during its first step.
func ExampleProber() {
	ctx := context.Background()
	hits := make(chan bool, 1<<16)
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits <- true
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer cand.Close()
	stable := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits <- true }))
	defer stable.Close()

	clk := fake.NewClock(time.Time{}) // the rollout's clock; the probe keeps its own
	svc := fake.NewService("api", fake.WithClock(clk))
	for i, rel := range []stage.Release{
		{Revision: "v1", Traffic: stage.RouteAll},
		{Revision: "v2", Traffic: stage.RouteNone, Tags: []string{traffic.TagCandidate}},
	} {
		rel.Artifact = registry.Artifact{Repository: "registry.example.com/api", Digest: "sha256:" + strings.Repeat(string(rune('a'+i)), 64)}
		if _, err := svc.Deploy(ctx, rel); err != nil {
			panic(err)
		}
	}
	// The tag URLs would be GetterTagURLs(svc); here, local stand-ins.
	prober := New(func(_ context.Context, revision, _ string) (string, error) {
		if revision == "api-v2" {
			return cand.URL, nil
		}
		return stable.URL, nil
	}, WithClock(fake.NewClock(time.Time{})))
	defer prober.Stop()
	seq, err := analysis.NewSequential(analysis.NewScript(clk, 3*time.Minute), analysis.WithProbe(prober), analysis.WithClock(clk))
	if err != nil {
		panic(err)
	}

	// Each second of the rollout waits for two probe requests (2 per
	// second is the probe's default rate), so the clocks move together.
	clk.OnSleep(func(time.Time) { <-hits; <-hits })
	ro, err := traffic.NewRollout(svc, traffic.WithGates(prober.Gate(seq)), traffic.WithClock(clk), traffic.WithInterval(time.Second))
	if err != nil {
		panic(err)
	}
	_, err = ro.Run(ctx, "api-v2")
	var re *traffic.RolloutError
	if errors.As(err, &re) {
		fmt.Printf("%v at step %d (%d%%)\n", re.Err, re.Step, re.Percent)
	}
	// Output: rolled back at step 1 (5%)
}
