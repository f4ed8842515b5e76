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
)

// Request is one call an emulator received.
type Request struct {
	// Method is the full gRPC method name, such as
	// "/google.cloud.run.v2.Services/UpdateService".
	Method string
	// Request is a copy of the request message; nil when the method is not
	// registered.
	Request proto.Message
	// Code is the status code the emulator answered with.
	Code codes.Code
}

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
	counts   map[string]int // by full method name
}

// Record adds a call of method with request req (copied when it is a
// proto.Message) that ended with err.
func (l *Log) Record(ctx context.Context, method string, req any, err error) {
	code := status.Code(err)
	var m proto.Message
	if pm, ok := req.(proto.Message); ok && l.Keep >= 0 {
		m = proto.Clone(pm)
	}
	l.mu.Lock()
	if l.counts == nil {
		l.counts = map[string]int{}
	}
	l.counts[method]++
	if l.Keep >= 0 {
		l.requests = append(l.requests, Request{Method: method, Request: m, Code: code})
		if l.Keep > 0 && len(l.requests) > l.Keep {
			l.requests = slices.Delete(l.requests, 0, len(l.requests)-l.Keep)
		}
	}
	l.mu.Unlock()
	if l.Logger != nil {
		l.Logger.LogAttrs(ctx, slog.LevelDebug, l.Name+" rpc",
			slog.String("method", method), slog.String("code", code.String()))
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
		out[i] = Request{Method: r.Method, Code: r.Code}
		if r.Request != nil {
			out[i].Request = proto.Clone(r.Request)
		}
	}
	return out
}

// Count returns how many calls of the full method name were recorded since
// the start or the last [Log.Reset], whatever Keep dropped. A method given
// without a leading "/" matches that method of any service ("GetTag").
func (l *Log) Count(method string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if strings.HasPrefix(method, "/") {
		return l.counts[method]
	}
	n := 0
	for m, c := range l.counts {
		if strings.HasSuffix(m, "/"+method) {
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
