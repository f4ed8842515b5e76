// Package gcperr translates Google API errors (gRPC status codes and HTTP
// status codes) into the sentinel errors of package twostage, keeping the
// original error in the chain so status.Code and apierror.FromError still
// work on the result.
package gcperr

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage"
)

// Error is a Google API error annotated with the sentinel it maps to.
// errors.Is matches both the sentinel and anything the cause matches;
// errors.As reaches the cause.
type Error struct {
	// Sentinel is one of the twostage.Err* values, or nil when the code has
	// no sentinel (PERMISSION_DENIED, INTERNAL, ...).
	Sentinel error
	// Canceled is context.Canceled when the cause is a CANCELLED status
	// that does not already match it (a gRPC client reports a cancelled
	// context that way), so errors.Is(err, context.Canceled) holds as it
	// does for the fakes; nil otherwise. DEADLINE_EXCEEDED is left alone:
	// a server's deadline is transient ([Retryable]), the caller's is not.
	Canceled error
	// Cause is the original error.
	Cause error
}

func (e *Error) Error() string { return e.Cause.Error() }

// Unwrap returns the sentinel and context.Canceled (when set) and the
// cause.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 3)
	for _, err := range []error{e.Sentinel, e.Canceled} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return append(errs, e.Cause)
}

// Temporary reports whether the cause is a transient failure worth
// retrying with backoff (see [Retryable]), so that [twostage.IsTemporary]
// recognises it without importing a transport: backends wrap every API
// error with [Wrap] at their boundary.
func (e *Error) Temporary() bool { return Retryable(e.Cause) }

// GRPCStatus lets status.FromError and status.Code see the original status.
func (e *Error) GRPCStatus() *status.Status {
	s, _ := status.FromError(e.Cause)
	return s
}

// Wrap annotates err with the sentinel its code maps to and prefixes what
// was being done: Wrap(err, "updating service %q", name). A nil err returns
// nil. Mapping:
//
//	NOT_FOUND, HTTP 404                      → ErrNotFound
//	FAILED_PRECONDITION, ABORTED, HTTP 409/412 → ErrConflict
//	ALREADY_EXISTS                           → ErrConflict
//	INVALID_ARGUMENT, OUT_OF_RANGE, HTTP 400 → ErrInvalid
//
// Other codes keep no sentinel. Callers that know better (a FAILED_PRECONDITION
// that means "revision not ready") should map those cases themselves before
// calling Wrap.
func Wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	e := &Error{Sentinel: Sentinel(err), Cause: err}
	if status.Code(err) == codes.Canceled && !errors.Is(err, context.Canceled) {
		e.Canceled = context.Canceled
	}
	return fmt.Errorf(format+": %w", append(args, e)...)
}

// Sentinel returns the twostage sentinel err's code maps to, or nil.
func Sentinel(err error) error {
	var ge *googleapi.Error
	var re *RESTError
	if !errors.As(err, &re) && errors.As(err, &ge) {
		switch ge.Code {
		case http.StatusNotFound:
			return twostage.ErrNotFound
		case http.StatusConflict, http.StatusPreconditionFailed:
			return twostage.ErrConflict
		case http.StatusBadRequest:
			return twostage.ErrInvalid
		}
		return nil
	}
	switch status.Code(err) {
	case codes.NotFound:
		return twostage.ErrNotFound
	case codes.FailedPrecondition, codes.Aborted, codes.AlreadyExists:
		return twostage.ErrConflict
	case codes.InvalidArgument, codes.OutOfRange:
		return twostage.ErrInvalid
	}
	return nil
}

// Retryable reports whether err is a transient failure worth retrying with
// backoff: UNAVAILABLE, DEADLINE_EXCEEDED (from the server, not the caller's
// context), RESOURCE_EXHAUSTED, or HTTP 429/502/503/504. Conflicts are never
// retryable: the caller must re-read.
func Retryable(err error) bool {
	var ge *googleapi.Error
	var re *RESTError
	if !errors.As(err, &re) && errors.As(err, &ge) {
		switch ge.Code {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return true
	}
	return false
}

// NoClientRetry is a call option that turns off a gapic client's own
// retries, which sleep on the wall clock: callers retry with
// internal/backoff on their injected clock instead.
func NoClientRetry() gax.CallOption {
	return gax.WithRetry(func() gax.Retryer { return nil })
}
