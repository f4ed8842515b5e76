package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/gcperr"
	"github.com/twostage/twostage/registry"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// simClock is a simulated clock: Sleep advances time at once, so tests run
// instantly and assert on simulated time.
type simClock struct {
	mu  sync.Mutex // guards now, slept
	now time.Time
	// slept records every Sleep duration.
	slept []time.Duration
	// onSleep, if set, runs after time advanced (for cancelling a ctx).
	onSleep func(now time.Time)
}

func newSimClock() *simClock {
	return &simClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *simClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	c.slept = append(c.slept, d)
	now, hook := c.now, c.onSleep
	c.mu.Unlock()
	if hook != nil {
		hook(now)
	}
	return ctx.Err()
}

// appearing is a Registry whose image appears at a given simulated time.
// Before that, Resolve returns errs in turn, then ErrNotFound.
type appearing struct {
	clock  *simClock
	at     time.Time
	art    registry.Artifact
	errs   []error
	mu     sync.Mutex // guards checks, seen
	checks int
	seen   time.Time // when the image was first returned
}

func (a *appearing) Push(context.Context, string, v1.Image) (registry.Artifact, error) {
	return registry.Artifact{}, errors.New("appearing: push not supported")
}

func (a *appearing) Resolve(_ context.Context, ref string) (registry.Artifact, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checks++
	now := a.clock.Now()
	if !now.Before(a.at) {
		if a.seen.IsZero() {
			a.seen = now
		}
		return a.art, nil
	}
	if len(a.errs) > 0 {
		err := a.errs[0]
		a.errs = a.errs[1:]
		return registry.Artifact{}, err
	}
	return registry.Artifact{}, fmt.Errorf("resolving %s: %w", ref, twostage.ErrNotFound)
}

const (
	testRef    = "europe-west1-docker.pkg.dev/p/apps/api:4f2c1e0"
	testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func TestAwaitNoticesImageWithinASecond(t *testing.T) {
	t.Parallel()
	for _, appearAfter := range []time.Duration{0, 100 * time.Millisecond, 3300 * time.Millisecond, 17 * time.Second, 2 * time.Minute} {
		t.Run(appearAfter.String(), func(t *testing.T) {
			t.Parallel()
			clock := newSimClock()
			start := clock.Now()
			want := registry.Artifact{Repository: "europe-west1-docker.pkg.dev/p/apps/api", Digest: testDigest}
			reg := &appearing{clock: clock, at: start.Add(appearAfter), art: want}
			var progress []registry.AwaitProgress
			got, err := registry.Await(t.Context(), reg, testRef, registry.WithClock(clock),
				registry.WithProgress(func(p registry.AwaitProgress) { progress = append(progress, p) }))
			if err != nil {
				t.Fatalf("Await: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Await mismatch (-want +got):\n%s", diff)
			}
			lag := reg.seen.Sub(start.Add(appearAfter))
			if lag < 0 || lag > time.Second {
				t.Errorf("image appeared at t=%s, noticed at t=%s: lag %s, want ≤ 1s", appearAfter, reg.seen.Sub(start), lag)
			}
			if len(progress) != reg.checks-1 {
				t.Errorf("got %d progress reports for %d checks, want checks-1", len(progress), reg.checks)
			}
			for i, p := range progress {
				if p.Attempt != i+1 || p.Ref != testRef || !errors.Is(p.Err, twostage.ErrNotFound) {
					t.Errorf("progress[%d] = %+v, want attempt %d for %s wrapping ErrNotFound", i, p, i+1, testRef)
				}
				if p.NextIn <= 0 || p.NextIn > time.Second {
					t.Errorf("progress[%d].NextIn = %s, want in (0, 1s]", i, p.NextIn)
				}
			}
		})
	}
}

func TestAwaitBackoffGrowsToCap(t *testing.T) {
	t.Parallel()
	clock := newSimClock()
	reg := &appearing{clock: clock, at: clock.Now().Add(10 * time.Second)}
	if _, err := registry.Await(t.Context(), reg, testRef, registry.WithClock(clock)); err != nil {
		t.Fatal(err)
	}
	// Jitter shortens each delay by at most 20%: 250ms, 500ms, 1s, 1s, ...
	ceil := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}
	for i, d := range clock.slept {
		c := time.Second
		if i < len(ceil) {
			c = ceil[i]
		}
		if d > c || d < c*8/10 {
			t.Errorf("delay %d = %s, want in [%s, %s]", i, d, c*8/10, c)
		}
	}
}

func TestAwaitTimeout(t *testing.T) {
	t.Parallel()
	clock := newSimClock()
	reg := &appearing{clock: clock, at: clock.Now().Add(time.Hour)}
	_, err := registry.Await(t.Context(), reg, testRef, registry.WithClock(clock), registry.WithTimeout(5*time.Second))
	if !errors.Is(err, twostage.ErrNotFound) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Await = %v, want an error wrapping ErrNotFound and DeadlineExceeded", err)
	}
	if got := clock.Now().Sub(reg.at.Add(-time.Hour)); got != 5*time.Second {
		t.Errorf("gave up at t=%s on the simulated clock, want exactly 5s (a last check at the deadline)", got)
	}
	msg := fmt.Sprintf("after 5s and %d checks", reg.checks)
	if !strings.Contains(err.Error(), testRef) || !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q should name %s and say %q", err, testRef, msg)
	}
}

func TestAwaitContextCancelled(t *testing.T) {
	t.Parallel()
	clock := newSimClock()
	start := clock.Now()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	clock.onSleep = func(now time.Time) {
		if now.Sub(start) >= 2*time.Second {
			cancel()
		}
	}
	reg := &appearing{clock: clock, at: start.Add(time.Hour)}
	_, err := registry.Await(ctx, reg, testRef, registry.WithClock(clock))
	if !errors.Is(err, twostage.ErrNotFound) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Await = %v, want an error wrapping ErrNotFound and Canceled", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("%d checks", reg.checks)) {
		t.Errorf("error %q should count %d checks", err, reg.checks)
	}
}

func TestAwaitErrors(t *testing.T) {
	t.Parallel()
	permission := status.Error(codes.PermissionDenied, "caller lacks artifactregistry.repositories.downloadArtifacts")
	// A backend marks a transient failure at its boundary (gcperr.Wrap
	// gives the status a Temporary method); the core sees no gRPC.
	unavailable := gcperr.Wrap(status.Error(codes.Unavailable, "try again"), "resolving")
	tests := []struct {
		name       string
		ref        string
		errs       []error
		wantIs     error
		wantChecks int
	}{
		{name: "malformed reference", ref: "api:latest", wantIs: twostage.ErrInvalid, wantChecks: 0},
		{name: "permission denied returns at once", ref: testRef, errs: []error{permission}, wantIs: permission, wantChecks: 1},
		{name: "transient errors are retried", ref: testRef, errs: []error{unavailable, unavailable}, wantChecks: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newSimClock()
			reg := &appearing{clock: clock, at: clock.Now(), errs: tt.errs, art: registry.Artifact{Repository: "x.io/a", Digest: testDigest}}
			if tt.errs != nil {
				reg.at = clock.Now().Add(time.Minute)
			}
			if tt.name == "transient errors are retried" {
				reg.at = clock.Now().Add(time.Second / 2)
			}
			_, err := registry.Await(t.Context(), reg, tt.ref, registry.WithClock(clock))
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Await = %v, want an error wrapping %v", err, tt.wantIs)
			}
			if tt.wantIs == nil && err != nil {
				t.Errorf("Await = %v, want success", err)
			}
			if reg.checks != tt.wantChecks {
				t.Errorf("made %d checks, want %d", reg.checks, tt.wantChecks)
			}
		})
	}
}

func TestAwaitLogs(t *testing.T) {
	t.Parallel()
	clock := newSimClock()
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := &appearing{clock: clock, at: clock.Now().Add(time.Second)}
	if _, err := registry.Await(t.Context(), reg, testRef, registry.WithClock(clock), registry.WithLogger(logger)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(buf.String(), "msg=\"awaiting image\""); got != reg.checks-1 {
		t.Errorf("logged %d lines for %d checks, want checks-1:\n%s", got, reg.checks, buf.String())
	}
}
