package gcperr_test

import (
	"errors"
	"testing"

	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/gcperr"
)

// TestFromREST: a REST error's code is the body's "status", not apierror's
// guess from the HTTP status (400 → INVALID_ARGUMENT).
func TestFromREST(t *testing.T) {
	t.Parallel()
	herr := &googleapi.Error{Code: 400, Message: "etag mismatch", Body: `{"error":{"code":400,"message":"etag mismatch","status":"FAILED_PRECONDITION"}}`}
	ae, ok := apierror.FromError(herr)
	if !ok {
		t.Fatal("apierror.FromError: not parsed")
	}
	if got := status.Code(ae); got != codes.InvalidArgument {
		t.Fatalf("apierror's code = %v; the premise (HTTP 400 → InvalidArgument) changed", got)
	}
	err := gcperr.FromREST(ae)
	if got := status.Code(err); got != codes.FailedPrecondition {
		t.Errorf("status.Code(FromREST) = %v, want FailedPrecondition", got)
	}
	if !errors.Is(gcperr.Wrap(err, "x"), ae) || status.Convert(err).Message() != "etag mismatch" {
		t.Errorf("FromREST(%v) = %v: lost the cause or message", ae, err)
	}
	// The sentinel and retryability follow the body's code, not the HTTP
	// status's (400 would be ErrInvalid).
	if w := gcperr.Wrap(err, "x"); !errors.Is(w, twostage.ErrConflict) || errors.Is(w, twostage.ErrInvalid) || gcperr.Retryable(w) {
		t.Errorf("Wrap(FromREST(400 FAILED_PRECONDITION)) = %v: want ErrConflict, not retryable", w)
	}
	busy := gcperr.FromREST(&googleapi.Error{Code: 429, Body: `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}`})
	if !gcperr.Retryable(busy) {
		t.Errorf("Retryable(FromREST(429 RESOURCE_EXHAUSTED)) = false")
	}
	for _, e := range []error{nil, status.Error(codes.NotFound, "x"), &googleapi.Error{Code: 404, Body: "not json"}} {
		if got := gcperr.FromREST(e); got != e {
			t.Errorf("FromREST(%v) = %v, want it unchanged", e, got)
		}
	}
}
