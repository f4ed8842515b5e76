package progress

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/pipeline"
)

func TestCILines(t *testing.T) {
	t.Parallel()
	clock := fake.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	var b bytes.Buffer
	r := New(&b, false, clock)
	r.Record(context.Background(), pipeline.AuditEvent{Action: pipeline.ActionStep, Decision: "advanced", Revision: "api-v2", Step: 1, Percent: 5, After: "api-v1=95%,api-v2=5%"})
	if err := r.Clock(clock).Sleep(context.Background(), 150*time.Second); err != nil {
		t.Fatal(err)
	}
	r.Clock(clock).Sleep(context.Background(), time.Second) // a short poll: not shown
	want := strings.Join([]string{
		"promote.step advanced api-v2 step 1 (5%) → api-v1=95%,api-v2=5%",
		"waiting for bake of step 1 (api-v2 at 5%): 2m30s remaining",
		"waiting for bake of step 1 (api-v2 at 5%): 1m0s elapsed, 1m30s remaining",
		"waiting for bake of step 1 (api-v2 at 5%): 2m0s elapsed, 30s remaining",
		"waited 2m30s for bake of step 1 (api-v2 at 5%)",
		"",
	}, "\n")
	if b.String() != want {
		t.Errorf("CI output:\n%s\nwant:\n%s", b.String(), want)
	}
	if got := clock.Slept(); got != 151*time.Second {
		t.Errorf("slept %v on the clock, want 2m31s", got)
	}
}

// TestDeadlineWait: a wait announced with Expect is made of many short
// polls; it is reported as one wait with elapsed and left time, live on a
// terminal and once a minute in CI, never silently.
func TestDeadlineWait(t *testing.T) {
	t.Parallel()
	clock := fake.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	var b bytes.Buffer
	r := New(&b, true, clock)
	r.Expect("image api:abc", clock.Now().Add(30*time.Minute))
	r.Clock(clock).Sleep(context.Background(), 2*time.Second)
	r.Clock(clock).Sleep(context.Background(), 2*time.Second)
	r.Record(context.Background(), pipeline.AuditEvent{Action: pipeline.ActionRelease, Decision: "deployed"})
	out := b.String()
	for _, want := range []string{"\r\x1b[Kwaiting for image api:abc: 0s elapsed, 30m0s left", "\r\x1b[Kwaiting for image api:abc: 2s elapsed, 29m58s left", "\r\x1b[Krelease.deploy deployed"} {
		if !strings.Contains(out, want) {
			t.Errorf("live output %q lacks %q", out, want)
		}
	}

	b.Reset()
	r = New(&b, false, clock)
	r.Expect("commit abc to run in dev", clock.Now().Add(30*time.Minute))
	for range 3 {
		r.Clock(clock).Sleep(context.Background(), 40*time.Second)
	}
	want := "waiting for commit abc to run in dev: 0s elapsed, 30m0s left\nwaiting for commit abc to run in dev: 1m20s elapsed, 28m40s left\n"
	if b.String() != want {
		t.Errorf("CI output:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestBakeCountsDown: a bake waited out in gate-interval sleeps is one wait
// whose time left falls to the bake's end, not each sleep's "30s
// remaining" (before SetBakes, a 5-minute bake printed "30s remaining" ten
// times).
func TestBakeCountsDown(t *testing.T) {
	t.Parallel()
	clock := fake.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	var b bytes.Buffer
	r := New(&b, false, clock)
	r.SetBakes(func(step int) time.Duration { return time.Duration(step) * 2 * time.Minute })
	r.Record(context.Background(), pipeline.AuditEvent{Time: clock.Now(), Action: pipeline.ActionStep, Decision: "advanced", Revision: "api-v2", Step: 1, Percent: 5})
	for i := range 4 {
		if i == 0 {
			r.Record(context.Background(), pipeline.AuditEvent{Action: pipeline.ActionGate, Decision: "inconclusive", Revision: "api-v2", Step: 1, Percent: 5, Reason: "no data"})
		}
		if i == 1 {
			// A gate passes during the bake: the bake goes on.
			r.Record(context.Background(), pipeline.AuditEvent{Action: pipeline.ActionGate, Decision: "pass", Revision: "api-v2", Step: 1, Percent: 5})
		}
		r.Clock(clock).Sleep(context.Background(), 30*time.Second)
	}
	want := strings.Join([]string{
		"promote.step advanced api-v2 step 1 (5%)",
		"promote.gate inconclusive api-v2 step 1 (5%): no data",
		"waiting for gates of step 1 to be conclusive (no data): 0s elapsed, 2m0s left",
		"promote.gate pass api-v2 step 1 (5%)",
		"waiting for bake of step 1 (api-v2 at 5%): 30s elapsed, 1m30s left",
		"waiting for bake of step 1 (api-v2 at 5%): 1m30s elapsed, 30s left",
		"",
	}, "\n")
	if b.String() != want {
		t.Errorf("CI output:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestSleepCancelled(t *testing.T) {
	t.Parallel()
	clock := fake.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := New(&bytes.Buffer{}, false, clock).Clock(clock).Sleep(ctx, time.Hour); err == nil {
		t.Error("Sleep with a cancelled context returned nil")
	}
}
