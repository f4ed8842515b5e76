package cloudrunfake

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

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
	l := &listener{addr: lis.Addr().String(), g: g, served: make(chan struct{})}
	l.hs = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
				g.ServeHTTP(w, r)
				return
			}
			dataPlane.ServeHTTP(w, r)
		}),
		Protocols:         new(http.Protocols),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	// gRPC clients speak HTTP/2 without TLS ("prior knowledge").
	l.hs.Protocols.SetHTTP1(true)
	l.hs.Protocols.SetUnencryptedHTTP2(true)
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
