package fake

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNewClockStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   time.Time
		want time.Time
	}{
		{"zero starts at 2026-01-01", time.Time{}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"given time kept", time.Date(2030, 5, 6, 7, 8, 9, 10, time.UTC), time.Date(2030, 5, 6, 7, 8, 9, 10, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := NewClock(tt.in).Now(); !got.Equal(tt.want) {
				t.Errorf("NewClock(%v).Now() = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestClockSleepAdvancesAndRecords(t *testing.T) {
	t.Parallel()
	c := NewClock(time.Time{})
	start := c.Now()
	ctx := context.Background()
	for _, d := range []time.Duration{time.Second, 2 * time.Second, 0, -time.Second, 4 * time.Second} {
		if err := c.Sleep(ctx, d); err != nil {
			t.Fatalf("Sleep(%v) = %v, want nil", d, err)
		}
	}
	if got, want := c.Now().Sub(start), 7*time.Second; got != want {
		t.Errorf("clock advanced %v, want %v (non-positive sleeps do not move it)", got, want)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 0, -time.Second, 4 * time.Second}
	if diff := cmp.Diff(want, c.Sleeps()); diff != "" {
		t.Errorf("Sleeps() mismatch (-want +got):\n%s", diff)
	}
	if got, want := c.Slept(), 7*time.Second; got != want {
		t.Errorf("Slept() = %v, want %v", got, want)
	}
}

func TestClockSleepsIsACopy(t *testing.T) {
	t.Parallel()
	c := NewClock(time.Time{})
	if err := c.Sleep(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	c.Sleeps()[0] = time.Hour
	if diff := cmp.Diff([]time.Duration{time.Second}, c.Sleeps()); diff != "" {
		t.Errorf("Sleeps() after mutating a copy mismatch (-want +got):\n%s", diff)
	}
}

func TestClockSleepDoneContext(t *testing.T) {
	t.Parallel()
	c := NewClock(time.Time{})
	start := c.Now()
	called := false
	c.OnSleep(func(time.Time) { called = true })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, d := range []time.Duration{time.Second, 0} {
		if err := c.Sleep(ctx, d); !errors.Is(err, context.Canceled) {
			t.Errorf("Sleep(canceled ctx, %v) = %v, want context.Canceled", d, err)
		}
	}
	if !c.Now().Equal(start) {
		t.Errorf("a canceled Sleep moved the clock to %v", c.Now())
	}
	if got := c.Sleeps(); len(got) != 0 {
		t.Errorf("a canceled Sleep was recorded: %v", got)
	}
	if called {
		t.Error("a canceled Sleep called the OnSleep function")
	}
}

func TestClockAdvanceAndSet(t *testing.T) {
	t.Parallel()
	c := NewClock(time.Time{})
	start := c.Now()
	c.Advance(90 * time.Minute)
	if got, want := c.Now(), start.Add(90*time.Minute); !got.Equal(want) {
		t.Errorf("after Advance, Now() = %v, want %v", got, want)
	}
	c.Advance(-30 * time.Minute)
	if got, want := c.Now(), start.Add(time.Hour); !got.Equal(want) {
		t.Errorf("after Advance back, Now() = %v, want %v", got, want)
	}
	at := time.Date(2020, 2, 2, 2, 2, 2, 0, time.UTC)
	c.Set(at)
	if got := c.Now(); !got.Equal(at) {
		t.Errorf("after Set, Now() = %v, want %v", got, at)
	}
	if got := c.Sleeps(); len(got) != 0 {
		t.Errorf("Advance or Set were recorded as sleeps: %v", got)
	}
}

func TestClockOnSleep(t *testing.T) {
	t.Parallel()
	c := NewClock(time.Time{})
	start := c.Now()
	var got []string
	c.OnSleep(func(now time.Time) { got = append(got, "first "+now.Sub(start).String()) })
	c.OnSleep(func(now time.Time) { got = append(got, "second "+now.Sub(start).String()) })
	ctx := context.Background()
	_ = c.Sleep(ctx, time.Second)
	c.Advance(time.Minute) // not a sleep: no call
	_ = c.Sleep(ctx, 2*time.Second)
	want := []string{"first 1s", "second 1s", "first 1m3s", "second 1m3s"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("OnSleep calls mismatch (-want +got):\n%s", diff)
	}
}

func TestClockOnSleepMayCallTheClock(t *testing.T) {
	t.Parallel()
	c := NewClock(time.Time{})
	start := c.Now()
	// A function that itself advances the clock must not deadlock.
	c.OnSleep(func(time.Time) { c.Advance(time.Millisecond) })
	if err := c.Sleep(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Now().Sub(start), time.Second+time.Millisecond; got != want {
		t.Errorf("clock advanced %v, want %v", got, want)
	}
}

func TestClockAt(t *testing.T) {
	t.Parallel()
	c := NewClock(time.Time{})
	start := c.Now()
	var fired []time.Duration
	c.At(start.Add(3300*time.Millisecond), func(now time.Time) { fired = append(fired, now.Sub(start)) })
	ctx := context.Background()
	for _, d := range []time.Duration{time.Second, 2 * time.Second, time.Second, time.Second} {
		_ = c.Sleep(ctx, d)
	}
	// 1s, 3s: not yet; 4s: fires once; 5s: already fired.
	if diff := cmp.Diff([]time.Duration{4 * time.Second}, fired); diff != "" {
		t.Errorf("At fired mismatch (-want +got):\n%s", diff)
	}
}

func TestClockNilFunctionsPanic(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]func(c *Clock){
		"OnSleep": func(c *Clock) { c.OnSleep(nil) },
		"At":      func(c *Clock) { c.At(time.Time{}, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Errorf("%s(nil) did not panic", name)
				}
			}()
			f(NewClock(time.Time{}))
		})
	}
}

func TestClockConcurrentSleeps(t *testing.T) {
	t.Parallel()
	c := NewClock(time.Time{})
	start := c.Now()
	const goroutines, each = 8, 50
	var hooks sync.WaitGroup
	var mu sync.Mutex
	calls := 0
	c.OnSleep(func(time.Time) { mu.Lock(); calls++; mu.Unlock() })
	for range goroutines {
		hooks.Go(func() {
			for range each {
				_ = c.Sleep(context.Background(), time.Millisecond)
				_ = c.Now()
			}
		})
	}
	hooks.Wait()
	if got, want := c.Now().Sub(start), goroutines*each*time.Millisecond; got != want {
		t.Errorf("clock advanced %v, want %v", got, want)
	}
	if got, want := len(c.Sleeps()), goroutines*each; got != want {
		t.Errorf("len(Sleeps()) = %d, want %d", got, want)
	}
	if calls != goroutines*each {
		t.Errorf("OnSleep called %d times, want %d", calls, goroutines*each)
	}
}
