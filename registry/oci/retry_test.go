package oci_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/registry/oci"
)

// flaky fails the first n requests whose method is method with status.
type flaky struct {
	mu     sync.Mutex // guards left and seen
	method string
	status int
	left   int
	seen   int
}

func (f *flaky) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		fail := r.Method == f.method && r.URL.Path != "/v2/" && f.left > 0
		if fail {
			f.left--
		}
		if r.Method == f.method {
			f.seen++
		}
		f.mu.Unlock()
		if fail {
			http.Error(w, "injected", f.status)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func TestRetryOnTheInjectedClock(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		method    string
		status    int
		failures  int
		wantErr   bool
		wantSleep int // sleeps on the clock
	}{
		{"a 503 blip on HEAD is absorbed", http.MethodHead, http.StatusServiceUnavailable, 1, false, 1},
		{"two 429s on PUT are absorbed", http.MethodPut, http.StatusTooManyRequests, 2, false, 2},
		{"an outage fails after the attempts", http.MethodHead, http.StatusBadGateway, 100, true, 2},
		{"a 403 is not retried", http.MethodHead, http.StatusForbidden, 1, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &flaky{method: tt.method, status: tt.status, left: tt.failures}
			host := newServer(t, f.wrap)
			clock := fake.NewClock(time.Time{})
			r := newRegistry(t, oci.WithClock(clock))
			ctx := t.Context()
			ref := host + "/team/app:v1"
			img := fake.NewImage("retry " + tt.name)
			var err error
			if tt.method == http.MethodPut {
				_, err = r.Push(ctx, ref, img)
			} else {
				// Push with no faults, then resolve through them.
				f.mu.Lock()
				f.left, f.seen = 0, 0
				f.mu.Unlock()
				if _, err := r.Push(ctx, ref, img); err != nil {
					t.Fatal(err)
				}
				f.mu.Lock()
				f.left = tt.failures
				f.mu.Unlock()
				_, err = r.Resolve(ctx, ref)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			var terr *transport.Error
			if tt.wantErr && (!errors.As(err, &terr) || terr.StatusCode != tt.status) {
				t.Errorf("err = %v, want the registry's HTTP %d in the chain", err, tt.status)
			}
			if got := len(clock.Sleeps()); got != tt.wantSleep {
				t.Errorf("slept %d times on the clock (%v), want %d", got, clock.Sleeps(), tt.wantSleep)
			}
		})
	}
}

func TestWithRetryRefusesZeroAttempts(t *testing.T) {
	t.Parallel()
	_, err := oci.New(oci.WithRetry(twostage.Retry{Attempts: -1}))
	if !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("New(WithRetry(-1 attempts)) = %v, want ErrInvalid", err)
	}
	if _, err := oci.New(oci.WithRetry(twostage.Retry{Attempts: 1})); err != nil {
		t.Errorf("New(WithRetry(1 attempt)) = %v, want no error", err)
	}
}
