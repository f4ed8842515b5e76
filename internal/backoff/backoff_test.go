package backoff_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/internal/backoff"
)

func TestDelay(t *testing.T) {
	t.Parallel()
	noJitter := func() float64 { return 0 }
	p := backoff.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Rand: noJitter}
	var got []time.Duration
	for i := range 6 {
		got = append(got, p.Delay(i))
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delays (-want +got):\n%s", diff)
	}
	// Full jitter draw shortens by at most Jitter, never lengthens.
	j := backoff.Policy{Initial: time.Second, Max: time.Second, Jitter: 0.5, Rand: func() float64 { return 0.999 }}
	if d := j.Delay(0); d < 500*time.Millisecond || d > time.Second {
		t.Errorf("jittered delay %v outside [500ms, 1s]", d)
	}
	if d := (backoff.Policy{}).Delay(0); d > 250*time.Millisecond || d < 200*time.Millisecond {
		t.Errorf("zero policy first delay %v, want 200..250ms", d)
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	transient := errors.New("transient")
	final := errors.New("final")
	retryable := func(err error) bool { return errors.Is(err, transient) }
	p := backoff.Policy{Initial: time.Second, Max: 4 * time.Second, Rand: func() float64 { return 0 }}

	t.Run("succeeds after retries", func(t *testing.T) {
		clock := fake.NewClock(time.Time{})
		calls := 0
		err := backoff.Retry(context.Background(), clock, p, 5, retryable, func(context.Context) error {
			if calls++; calls < 3 {
				return transient
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Fatalf("err %v after %d calls, want success after 3", err, calls)
		}
		if diff := cmp.Diff([]time.Duration{time.Second, 2 * time.Second}, clock.Sleeps()); diff != "" {
			t.Errorf("sleeps (-want +got):\n%s", diff)
		}
	})
	t.Run("stops on a non-retryable error", func(t *testing.T) {
		clock := fake.NewClock(time.Time{})
		calls := 0
		err := backoff.Retry(context.Background(), clock, p, 5, retryable, func(context.Context) error { calls++; return final })
		if !errors.Is(err, final) || calls != 1 || len(clock.Sleeps()) != 0 {
			t.Errorf("err %v, %d calls, %d sleeps; want final after 1 call, no sleep", err, calls, len(clock.Sleeps()))
		}
	})
	t.Run("gives up after attempts without a last sleep", func(t *testing.T) {
		clock := fake.NewClock(time.Time{})
		calls := 0
		err := backoff.Retry(context.Background(), clock, p, 3, retryable, func(context.Context) error { calls++; return transient })
		if !errors.Is(err, transient) || calls != 3 || len(clock.Sleeps()) != 2 {
			t.Errorf("err %v, %d calls, %d sleeps; want transient after 3 calls and 2 sleeps", err, calls, len(clock.Sleeps()))
		}
	})
	t.Run("context ends the wait", func(t *testing.T) {
		clock := fake.NewClock(time.Time{})
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		err := backoff.Retry(ctx, clock, p, 0, retryable, func(context.Context) error {
			if calls++; calls == 2 {
				cancel()
			}
			return transient
		})
		if !errors.Is(err, transient) || calls != 2 {
			t.Errorf("err %v after %d calls; want the last error after 2 calls", err, calls)
		}
	})
}
