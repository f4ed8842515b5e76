package emulator

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage"
)

// Faults injects errors and latency by method name (a full gRPC method
// name, or an HTTP emulator's REST method id). Set Hook, Latency and Clock
// before the first call; [Faults.Inject] may be called at any time. The
// zero value injects nothing. It is safe for concurrent use.
type Faults struct {
	// Hook, when set, runs before every call with the method name and the
	// request (the request message of a gRPC call, the *http.Request of an
	// HTTP call); a non-nil error is answered instead of running the call.
	Hook func(method string, req any) error
	// Latency delays every call of a method name through Clock.Sleep before
	// it runs.
	Latency map[string]time.Duration
	// Clock waits for injected latency; nil waits on the wall clock
	// ([twostage.SystemClock]).
	Clock twostage.Clock

	mu       sync.Mutex // guards injected
	injected map[string]*injection
}

type injection struct {
	err   error
	times int // < 0: every call
}

// Inject makes the next times calls of the method name fail with err
// without running. times < 0 fails every call; a nil err or times == 0
// removes the injection.
func (f *Faults) Inject(method string, err error, times int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil || times == 0 {
		delete(f.injected, method)
		return
	}
	if f.injected == nil {
		f.injected = map[string]*injection{}
	}
	f.injected[method] = &injection{err: err, times: times}
}

// take returns the error injected for the next call of method, if any, and
// uses it up.
func (f *Faults) take(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in := f.injected[method]
	if in == nil {
		return nil
	}
	if in.times > 0 {
		if in.times--; in.times == 0 {
			delete(f.injected, method)
		}
	}
	return in.err
}

// Wait waits the method's latency, if any, and returns ctx's error when
// ctx ends first.
func (f *Faults) Wait(ctx context.Context, method string) error {
	d := f.Latency[method]
	if d <= 0 {
		return nil
	}
	clock := f.Clock
	if clock == nil {
		clock = twostage.SystemClock()
	}
	return clock.Sleep(ctx, d)
}

// Check returns Hook's error or an injected one for a call of method with
// req, or nil to run the call.
func (f *Faults) Check(method string, req any) error {
	if f.Hook != nil {
		if err := f.Hook(method, req); err != nil {
			return err
		}
	}
	return f.take(method)
}

// Intercept is a unary interceptor that waits the method's latency (a
// caller whose context ends first gets its context's status), then answers
// Hook's error or an injected one, else runs the call.
func (f *Faults) Intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := f.Wait(ctx, info.FullMethod); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	if err := f.Check(info.FullMethod, req); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

// Chain composes unary interceptors into one; the first is the outermost.
// It is grpc.ChainUnaryInterceptor for one service rather than a server.
func Chain(icpts ...grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return chained(ctx, icpts, req, info, h)
	}
}

func chained(ctx context.Context, icpts []grpc.UnaryServerInterceptor, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if len(icpts) == 0 {
		return h(ctx, req)
	}
	return icpts[0](ctx, req, info, func(ctx context.Context, req any) (any, error) {
		return chained(ctx, icpts[1:], req, info, h)
	})
}
