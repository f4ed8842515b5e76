package cloudrunfake

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"google.golang.org/api/option"
	"google.golang.org/grpc"

	"github.com/twostage/twostage/internal/emulator"
)

// listener serves gRPC and the data plane's HTTP on one address, told apart
// by the request (HTTP/2 with Content-Type application/grpc is gRPC), as
// package fake/emulators does for the whole set. A nil *listener (with
// WithoutListener) does nothing.
type listener struct {
	addr   string
	g      *grpc.Server
	hs     *http.Server
	served chan struct{} // closed when hs.Serve returns
}

func listen(addr string, register func(grpc.ServiceRegistrar), dataPlane http.Handler, opts ...grpc.ServerOption) (*listener, error) {
	if addr == "" {
		addr = emulator.DefaultAddress
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %q: %w", addr, err)
	}
	g := grpc.NewServer(opts...)
	register(g)
	// REST/JSON of the services beside gRPC; requests to a service URL
	// (Host *.run.app) and those no REST method matches go to the data plane.
	rest, err := emulator.REST(g, dataPlane)
	if err != nil {
		_ = lis.Close() // nothing served yet
		return nil, fmt.Errorf("cloudrunfake: %w", err)
	}
	l := &listener{addr: lis.Addr().String(), g: g, served: make(chan struct{})}
	l.hs = emulator.NewHTTPServer(emulator.Mixed(g, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := hostOf(r.Host); h == "run.app" || strings.HasSuffix(h, ".run.app") {
			dataPlane.ServeHTTP(w, r)
			return
		}
		rest.ServeHTTP(w, r)
	})))
	go func() {
		defer close(l.served)
		_ = l.hs.Serve(lis) // returns http.ErrServerClosed after Close
	}()
	return l, nil
}

// ClientOptions returns the gapic client options of the address, or nil.
func (l *listener) ClientOptions() []option.ClientOption {
	if l == nil {
		return nil
	}
	return emulator.ClientOptions(l.addr)
}

// Close stops serving at once, ending open calls and requests, and waits.
func (l *listener) Close() error {
	if l == nil {
		return nil
	}
	l.g.Stop()
	err := l.hs.Close()
	<-l.served
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("cloudrunfake: closing: %w", err)
	}
	return nil
}
