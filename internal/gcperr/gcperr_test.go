package gcperr_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/gcperr"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestWrap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err       error
		sentinel  error
		retryable bool
	}{
		{status.Error(codes.NotFound, "x"), twostage.ErrNotFound, false},
		{status.Error(codes.FailedPrecondition, "etag"), twostage.ErrConflict, false},
		{status.Error(codes.Aborted, "etag"), twostage.ErrConflict, false},
		{status.Error(codes.AlreadyExists, "rev"), twostage.ErrConflict, false},
		{status.Error(codes.InvalidArgument, "bad"), twostage.ErrInvalid, false},
		{status.Error(codes.Unavailable, "down"), nil, true},
		{status.Error(codes.ResourceExhausted, "quota"), nil, true},
		{status.Error(codes.DeadlineExceeded, "slow"), nil, true},
		{status.Error(codes.PermissionDenied, "no"), nil, false},
		{&googleapi.Error{Code: http.StatusNotFound}, twostage.ErrNotFound, false},
		{&googleapi.Error{Code: http.StatusConflict}, twostage.ErrConflict, false},
		{&googleapi.Error{Code: http.StatusBadRequest}, twostage.ErrInvalid, false},
		{&googleapi.Error{Code: http.StatusTooManyRequests}, nil, true},
		{&googleapi.Error{Code: http.StatusServiceUnavailable}, nil, true},
		{fmt.Errorf("wrapped: %w", context.Canceled), nil, false},
	} {
		err := gcperr.Wrap(tc.err, "doing %s", "things")
		if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
			t.Errorf("Wrap(%v) = %v, want it to wrap %v", tc.err, err, tc.sentinel)
		}
		for _, s := range []error{twostage.ErrNotFound, twostage.ErrConflict, twostage.ErrInvalid} {
			if s != tc.sentinel && errors.Is(err, s) {
				t.Errorf("Wrap(%v) wraps %v too", tc.err, s)
			}
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("Wrap(%v) lost the cause", tc.err)
		}
		if got, want := status.Code(err), status.Code(tc.err); got != want {
			t.Errorf("status.Code(Wrap(%v)) = %v, want %v", tc.err, got, want)
		}
		if got := gcperr.Retryable(err); got != tc.retryable {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.retryable)
		}
		// The core sees the same answer without a transport.
		if got := twostage.IsTemporary(err); got != tc.retryable {
			t.Errorf("twostage.IsTemporary(Wrap(%v)) = %v, want %v", tc.err, got, tc.retryable)
		}
	}
	if gcperr.Wrap(nil, "x") != nil {
		t.Error("Wrap(nil) != nil")
	}
}

// TestWrapCanceled: a CANCELLED status (what a gRPC client returns for a
// cancelled context) matches context.Canceled once wrapped, keeps its code
// and is not retryable; DEADLINE_EXCEEDED does not become the caller's.
func TestWrapCanceled(t *testing.T) {
	t.Parallel()
	err := gcperr.Wrap(status.Error(codes.Canceled, "context canceled"), "getting service %q", "api")
	if !errors.Is(err, context.Canceled) || status.Code(err) != codes.Canceled || gcperr.Retryable(err) || twostage.IsTemporary(err) {
		t.Errorf("Wrap(CANCELLED) = %v: Is(context.Canceled) %v, code %v, retryable %v; want true, Canceled, false",
			err, errors.Is(err, context.Canceled), status.Code(err), gcperr.Retryable(err))
	}
	if !strings.HasPrefix(err.Error(), `getting service "api": `) {
		t.Errorf("message %q lost its prefix", err)
	}
	dl := gcperr.Wrap(status.Error(codes.DeadlineExceeded, "deadline"), "x")
	if errors.Is(dl, context.DeadlineExceeded) || !gcperr.Retryable(dl) {
		t.Errorf("Wrap(DEADLINE_EXCEEDED) = %v: want a retryable server deadline, not the caller's", dl)
	}
	nf := gcperr.Wrap(status.Error(codes.NotFound, "gone"), "x")
	if errors.Is(nf, context.Canceled) || !errors.Is(nf, twostage.ErrNotFound) {
		t.Errorf("Wrap(NOT_FOUND) = %v: want ErrNotFound only", nf)
	}
}
