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

func TestLiveLineAndDeadline(t *testing.T) {
	t.Parallel()
	clock := fake.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	var b bytes.Buffer
	r := New(&b, true, clock)
	r.Expect("image api:abc", clock.Now().Add(30*time.Minute))
	r.Clock(clock).Sleep(context.Background(), 2*time.Second)
	out := b.String()
	for _, want := range []string{"\r\x1b[Kwaiting for image api:abc: 30m0s remaining", "\r\x1b[Kwaiting for image api:abc: 1s elapsed, 29m59s remaining"} {
		if !strings.Contains(out, want) {
			t.Errorf("live output %q lacks %q", out, want)
		}
	}
	if !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("live output %q does not clear its line at the end", out)
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
