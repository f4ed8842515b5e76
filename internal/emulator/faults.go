package emulator

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/twostage/twostage"
)

// Faults injects errors and latency by full gRPC method name. Set Hook,
// Latency and Sleep before the first call; [Faults.Inject] may be called at
// any time. The zero value injects nothing. It is safe for concurrent use.
type Faults struct {
	// Hook, when set, runs before every call with the full method name and
	// the request; a non-nil error is answered instead of running the call.
	Hook func(method string, req proto.Message) error
	// Latency delays every call of a full method name through Sleep before
	// it runs.
	Latency map[string]time.Duration
	// Sleep waits for injected latency and must return ctx.Err() when ctx
	// ends first; nil waits on the wall clock ([twostage.SystemClock]).
	Sleep func(ctx context.Context, d time.Duration) error

	mu       sync.Mutex // guards injected
	injected map[string]*injection
}

type injection struct {
	err   error
	times int // < 0: every call
}

// Inject makes the next times calls of the full method name fail with err
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

// Intercept is a unary interceptor that waits the method's latency (a
// caller whose context ends first gets its context's status), then answers
// Hook's error or an injected one, else runs the call.
func (f *Faults) Intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if d := f.Latency[info.FullMethod]; d > 0 {
		sleep := f.Sleep
		if sleep == nil {
			sleep = twostage.SystemClock().Sleep
		}
		if err := sleep(ctx, d); err != nil {
			if st := status.FromContextError(err); st != nil {
				return nil, st.Err()
			}
			return nil, err
		}
	}
	if f.Hook != nil {
		pm, _ := req.(proto.Message)
		if err := f.Hook(info.FullMethod, pm); err != nil {
			return nil, err
		}
	}
	if err := f.take(info.FullMethod); err != nil {
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
