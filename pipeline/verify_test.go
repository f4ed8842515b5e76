package pipeline_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/traffic"
)

// candidateServer stands in for the candidate's preview URL: it answers
// status with body, and counts requests.
func candidateServer(t *testing.T, status int, body string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestHTTPCheck(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 500)
	for _, tc := range []struct {
		name        string
		status      int
		body        string
		check       pipeline.HTTPCheck
		want        traffic.Outcome
		wantReason  string
		wantAttempt float64
	}{
		{"ok", 200, "ok", pipeline.HTTPCheck{Path: "/healthz"}, traffic.Pass, "answered 200", 1},
		{"body matches", 200, "version v1.0.0", pipeline.HTTPCheck{Path: "/healthz", BodyContains: "v1.0.0"}, traffic.Pass, "answered 200", 1},
		{"body lacks", 200, "version v0.9", pipeline.HTTPCheck{Path: "/healthz", BodyContains: "v1.0.0", Attempts: 2}, traffic.Fail, `lacks "v1.0.0"`, 2},
		{"500 with excerpt", 500, "panic: nil map" + long, pipeline.HTTPCheck{Path: "/healthz"}, traffic.Fail, "answered 500, want 200; body: \"panic: nil map", 3},
		{"custom status", 204, "", pipeline.HTTPCheck{Path: "/healthz", WantStatus: 204}, traffic.Pass, "answered 204", 1},
		{"wrong path", 200, "ok", pipeline.HTTPCheck{Path: "/nope", Attempts: 1}, traffic.Fail, "answered 404", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := candidateServer(t, tc.status, tc.body)
			clock := fake.NewClock(time.Time{})
			tc.check.Clock, tc.check.Client = clock, srv.Client()
			v, err := tc.check.Verify(context.Background(), pipeline.Candidate{URL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			if v.Outcome != tc.want || !strings.Contains(v.Reason, tc.wantReason) || v.Numbers["attempts"] != tc.wantAttempt {
				t.Errorf("verdict %s %q attempts %v; want %s containing %q after %v attempts", v.Outcome, v.Reason, v.Numbers["attempts"], tc.want, tc.wantReason, tc.wantAttempt)
			}
			if len(v.Reason) > 400 {
				t.Errorf("reason is %d bytes; the body excerpt should be short", len(v.Reason))
			}
			if want := time.Duration(tc.wantAttempt-1) * 2 * time.Second; clock.Slept() != want {
				t.Errorf("slept %v between attempts, want %v", clock.Slept(), want)
			}
		})
	}
	if _, err := (pipeline.HTTPCheck{}).Verify(context.Background(), pipeline.Candidate{}); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("no URL: err = %v, want ErrInvalid", err)
	}
	if _, err := (pipeline.HTTPCheck{Path: "healthz"}).Verify(context.Background(), pipeline.Candidate{URL: "http://127.0.0.1:1"}); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("relative path: err = %v, want ErrInvalid", err)
	}
}

// previewTo makes the fake prod service's preview URLs point at srv.
func previewTo(srv *httptest.Server) fake.ServiceOption {
	return fake.WithURL(srv.URL)
}

func TestReleaseSmokeCheckFailureRoutesNothing(t *testing.T) {
	t.Parallel()
	srv, hits := candidateServer(t, 503, "upstream connect error")
	clock := fake.NewClock(time.Time{})
	// The fake forms tag URLs as https://TAG---HOST; the check's client
	// sends every request to the test server whatever the host.
	client := &http.Client{Transport: rewriteTo(srv.URL)}
	w := newWorldWith(t, previewTo(srv), pipeline.WithVerifiers(pipeline.HTTPCheck{Path: "/healthz", Client: client, Clock: clock}))
	w.dev1(t, sha1)
	stable := w.prod.Snapshot().Split.LatestRevision
	_, err := w.p.Release(context.Background(), pipeline.ReleaseInput{Tag: "v1.0.0", SHA: sha1})
	if !errors.Is(err, twostage.ErrNotReady) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want ErrNotReady naming the status", err)
	}
	if hits.Load() != 3 {
		t.Errorf("smoke check made %d requests, want 3 attempts", hits.Load())
	}
	var ev *pipeline.AuditEvent
	for _, e := range w.log.Events() {
		if e.Action == pipeline.ActionRelease {
			ev = &e
		}
	}
	if ev == nil || ev.Decision != "refused" || len(ev.Verdicts) != 1 || ev.Verdicts[0].Numbers["status"] != 503 || !strings.Contains(ev.Verdicts[0].Reason, "upstream connect error") {
		t.Fatalf("release audit event %+v lacks the status and body excerpt", ev)
	}
	// Promote refuses the candidate: no traffic is ever routed to it.
	if _, err := w.p.Promote(context.Background(), pipeline.PromoteInput{}); !errors.Is(err, twostage.ErrPolicy) {
		t.Errorf("Promote after a failed smoke check: err = %v, want ErrPolicy", err)
	}
	for _, c := range w.prod.Calls() {
		if c.Method == "SetSplit" && strings.Contains(c.Arg, "v1-0-0") && !strings.Contains(c.Arg, "v1-0-0-1111111=0%") {
			t.Errorf("a write routed traffic to the candidate: %s", c.Arg)
		}
	}
	if got := shares(t, w.prod); got[stable] != 100 {
		t.Errorf("prod shares %v, want %s at 100", got, stable)
	}
}

func TestReleaseSmokeCheckPasses(t *testing.T) {
	t.Parallel()
	srv, _ := candidateServer(t, 200, "ok")
	client := &http.Client{Transport: rewriteTo(srv.URL)}
	gateRan := false
	g := traffic.GateFunc(func(_ context.Context, c traffic.Check) (traffic.Verdict, error) {
		gateRan = c.Percent == 0 && c.Candidate == "api-prod-v1-0-0-1111111"
		return traffic.Verdict{Gate: "custom", Outcome: traffic.Pass}, nil
	})
	clock := fake.NewClock(time.Time{})
	w := newWorldWith(t, previewTo(srv), pipeline.WithVerifiers(pipeline.HTTPCheck{Path: "/healthz", Client: client}, pipeline.GateVerifier(g, clock)))
	w.dev1(t, sha1)
	if _, err := w.p.Release(context.Background(), pipeline.ReleaseInput{Tag: "v1.0.0", SHA: sha1}); err != nil {
		t.Fatal(err)
	}
	if !gateRan {
		t.Error("the user gate was not asked about the candidate at 0%")
	}
}

// approvals answers per step: the first answers in turn, the last one
// from then on.
type approvals struct {
	mu      sync.Mutex // guards answers
	answers map[int][]traffic.Outcome
}

func (a *approvals) Approve(_ context.Context, c traffic.Check) (traffic.Outcome, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	q := a.answers[c.Step]
	if len(q) == 0 {
		return traffic.Pass, nil
	}
	o := q[0]
	if len(q) > 1 {
		a.answers[c.Step] = q[1:]
	}
	return o, nil
}

func TestApprover(t *testing.T) {
	t.Parallel()
	a := &approvals{answers: map[int][]traffic.Outcome{
		1: {traffic.Inconclusive, traffic.Pass},
		2: {traffic.Inconclusive, traffic.Fail},
	}}
	w := newWorld(t, pipeline.WithApprover(a))
	w.dev1(t, sha1)
	w.release(t, "v1.0.0", sha1)
	_, err := w.p.Promote(context.Background(), pipeline.PromoteInput{})
	var re *traffic.RolloutError
	if !errors.As(err, &re) || !errors.Is(err, traffic.ErrRolledBack) || re.Step != 2 || !strings.Contains(re.Reason, "rejected") {
		t.Fatalf("err = %v, want a rollback at step 2 by rejection", err)
	}
	if o, err := (pipeline.AutoApprove{}).Approve(context.Background(), traffic.Check{}); o != traffic.Pass || err != nil {
		t.Errorf("AutoApprove = %s, %v; want pass", o, err)
	}
}

// rewriteTo sends every request to base (scheme and host), keeping the path:
// the candidate's tag URL points at a test server.
type rewriteTo string

func (b rewriteTo) RoundTrip(r *http.Request) (*http.Response, error) {
	u, err := url.Parse(string(b))
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = u.Scheme, u.Host, u.Host
	return http.DefaultTransport.RoundTrip(r)
}
