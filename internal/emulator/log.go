package emulator

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/twostage/twostage/fake/emulation"
)

// Request is one call an emulator received (the public type of package
// fake/emulation, which every emulator's Requests returns).
type Request = emulation.Request

// Log records the calls an emulator receives, in arrival order, and counts
// them by method. Set its fields before the first call; the zero value
// keeps every request and logs nothing. It is safe for concurrent use.
type Log struct {
	// Name starts the debug line logged for each call, such as
	// "cloudrunfake" ("cloudrunfake rpc method=… code=…").
	Name string
	// Logger receives a debug line per call; nil logs nothing.
	Logger *slog.Logger
	// Keep is how many of the newest requests [Log.Requests] keeps: 0 keeps
	// every request, a negative number none (the counts are still kept).
	Keep int

	mu       sync.Mutex // guards requests and counts
	requests []Request
	counts   map[string]int // by method name
}

// Record adds a gRPC call of method with request req (copied when it is a
// proto.Message) that ended with err.
func (l *Log) Record(ctx context.Context, method string, req any, err error) {
	var m proto.Message
	if pm, ok := req.(proto.Message); ok && l.Keep >= 0 {
		m = proto.Clone(pm)
	}
	r := Request{Method: method, Code: status.Code(err)}
	if m != nil {
		r.Request = m
	}
	l.add(ctx, r)
}

// add records r.
func (l *Log) add(ctx context.Context, r Request) {
	l.mu.Lock()
	if l.counts == nil {
		l.counts = map[string]int{}
	}
	l.counts[r.Method]++
	if l.Keep >= 0 {
		l.requests = append(l.requests, r)
		if l.Keep > 0 && len(l.requests) > l.Keep {
			l.requests = slices.Delete(l.requests, 0, len(l.requests)-l.Keep)
		}
	}
	l.mu.Unlock()
	if l.Logger != nil {
		kind := " rpc"
		if r.HTTP != "" {
			kind = " http"
		}
		l.Logger.LogAttrs(ctx, slog.LevelDebug, l.Name+kind,
			slog.String("method", r.Method), slog.String("code", r.Code.String()))
	}
}

// Intercept is a unary interceptor that records every call with the code
// the rest of the chain answered.
func (l *Log) Intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	l.Record(ctx, info.FullMethod, req, err)
	return resp, err
}

// Requests returns a copy of the kept requests in arrival order.
func (l *Log) Requests() []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Request, len(l.requests))
	for i, r := range l.requests {
		out[i] = r
		if m, ok := r.Request.(proto.Message); ok {
			out[i].Request = proto.Clone(m)
		}
	}
	return out
}

// Count returns how many calls of the method name were recorded since the
// start or the last [Log.Reset], whatever Keep dropped. A gRPC method
// given without a leading "/" matches that method of any service
// ("GetTag").
func (l *Log) Count(method string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n, ok := l.counts[method]; ok || strings.HasPrefix(method, "/") {
		return n
	}
	n := 0
	for m, c := range l.counts {
		if strings.HasPrefix(m, "/") && strings.HasSuffix(m, "/"+method) {
			n += c
		}
	}
	return n
}

// Reset empties the log and its counts.
func (l *Log) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests, l.counts = nil, nil
}

// codeOf returns the gRPC code of an HTTP status (the inverse of
// [HTTPStatus], with 409 read as Aborted).
func codeOf(httpStatus int) codes.Code {
	switch {
	case httpStatus < 400:
		return codes.OK
	case httpStatus == 400:
		return codes.InvalidArgument
	case httpStatus == 401:
		return codes.Unauthenticated
	case httpStatus == 403:
		return codes.PermissionDenied
	case httpStatus == 404:
		return codes.NotFound
	case httpStatus == 409:
		return codes.Aborted
	case httpStatus == 412:
		return codes.FailedPrecondition
	case httpStatus == 413, httpStatus == 429:
		return codes.ResourceExhausted
	case httpStatus == 499:
		return codes.Canceled
	case httpStatus == 501:
		return codes.Unimplemented
	case httpStatus == 503:
		return codes.Unavailable
	case httpStatus == 504:
		return codes.DeadlineExceeded
	case httpStatus < 500:
		return codes.FailedPrecondition
	}
	return codes.Internal
}

// HTTPStatus returns the HTTP status Google's REST front ends answer for a
// gRPC code (https://cloud.google.com/apis/design/errors, "Handling
// errors"; the same table as grpc-gateway's runtime.HTTPStatusFromCode).
func HTTPStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return 200
	case codes.Canceled:
		return 499
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return 400
	case codes.Unauthenticated:
		return 401
	case codes.PermissionDenied:
		return 403
	case codes.NotFound:
		return 404
	case codes.AlreadyExists, codes.Aborted:
		return 409
	case codes.ResourceExhausted:
		return 429
	case codes.Unimplemented:
		return 501
	case codes.Unavailable:
		return 503
	case codes.DeadlineExceeded:
		return 504
	}
	return 500 // Unknown, Internal, DataLoss
}

// StatusName returns the name of a code in Google's JSON error shape
// ("PERMISSION_DENIED"), which is the upper-case name grpc gives it except
// for Canceled.
func StatusName(c codes.Code) string {
	if c == codes.Canceled {
		return "CANCELLED"
	}
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}
