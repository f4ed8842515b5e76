package emulator

import (
	"log/slog"
	"time"

	"google.golang.org/grpc"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake/emulation"
)

// Options are the settings every emulator shares. Each emulator's config
// embeds them and its With... options set them, so the option names, their
// defaults and their meaning are the same in every emulator.
type Options struct {
	// Addr is the listen address; "" is [DefaultAddress].
	Addr string
	// NoListener starts no server of the emulator's own: it serves only
	// where it is mounted (Register, Handler).
	NoListener bool
	// Clock stamps times and waits injected latency; nil is the wall clock.
	Clock twostage.Clock
	// Logger receives a debug line per call; nil discards.
	Logger *slog.Logger
	// Inject runs before every call (WithErrorInjection).
	Inject func(method string, req any) error
	// Latency delays every call of a method (WithLatency).
	Latency map[string]time.Duration
	// MaxRequests is how many of the newest requests the log keeps; ≤ 0
	// keeps every one.
	MaxRequests int
	// IAM enforces IAM on the calls (WithIAM); nil enforces none.
	IAM *emulation.IAM
}

// SetLatency sets the latency of method, creating the map.
func (o *Options) SetLatency(method string, d time.Duration) {
	if o.Latency == nil {
		o.Latency = map[string]time.Duration{}
	}
	o.Latency[method] = d
}

// Defaults fills the nil clock and logger with their defaults.
func (o *Options) Defaults() {
	if o.Clock == nil {
		o.Clock = twostage.SystemClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Kit is what an emulator holds of the common machinery: its request log
// and its fault injection, wired from its [Options].
type Kit struct {
	Log    Log
	Faults Faults
}

// NewKit returns the kit of an emulator called name (the start of its log
// lines, such as "cloudrunfake"). Call o.Defaults first.
func NewKit(name string, o Options) *Kit {
	keep := o.MaxRequests
	if keep < 0 {
		keep = 0
	}
	return &Kit{
		Log:    Log{Name: name, Logger: o.Logger, Keep: keep},
		Faults: Faults{Hook: o.Inject, Latency: o.Latency, Clock: o.Clock},
	}
}

// Registrar returns a registrar that registers services on r with the
// kit's request log and fault injection around each unary method, then
// the extra interceptors (innermost last).
func (k *Kit) Registrar(r grpc.ServiceRegistrar, extra ...grpc.UnaryServerInterceptor) grpc.ServiceRegistrar {
	return Intercept(r, Chain(append([]grpc.UnaryServerInterceptor{k.Log.Intercept, k.Faults.Intercept}, extra...)...))
}
