package emulator

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
	"google.golang.org/grpc/credentials/insecure"
)

// DefaultAddress is the address [Listen] uses for an empty one: loopback,
// a free port.
const DefaultAddress = "127.0.0.1:0"

// Server is a grpc.Server serving on its own listener, beside the REST/JSON
// surface of its services ([REST]). A nil *Server is an emulator without a
// listener (mounted elsewhere): its methods do nothing.
type Server struct {
	// Addr is the "host:port" the server listens on.
	Addr string

	g    *grpc.Server
	hs   *http.Server
	done chan struct{} // closed when Serve returns
}

// Listen listens on addr ([DefaultAddress] when empty), creates a
// grpc.Server with opts, lets register add the services, and serves in a
// goroutine until [Server.Close]: gRPC calls (HTTP/2 without TLS) and the
// services' REST/JSON surface ([REST], HTTP/1.1 or h2c) on one address.
func Listen(addr string, register func(grpc.ServiceRegistrar), opts ...grpc.ServerOption) (*Server, error) {
	return ListenWith(addr, register, nil, opts...)
}

// ListenWith is [Listen] whose plain HTTP requests no REST method matches
// go to other (nil answers 404 in Google's JSON error shape).
func ListenWith(addr string, register func(grpc.ServiceRegistrar), other http.Handler, opts ...grpc.ServerOption) (*Server, error) {
	if addr == "" {
		addr = DefaultAddress
	}
	g := grpc.NewServer(opts...)
	register(g)
	rest, err := REST(g, other)
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %q: %w", addr, err)
	}
	s := &Server{Addr: lis.Addr().String(), g: g, hs: NewHTTPServer(Mixed(g, rest)), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = s.hs.Serve(lis) // returns http.ErrServerClosed after Close
	}()
	return s, nil
}

// IsGRPC reports whether r is a gRPC call: HTTP/2 with a Content-Type of
// application/grpc or application/grpc+FORMAT.
func IsGRPC(r *http.Request) bool {
	return r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

// Mixed returns the handler of one address serving gRPC and HTTP: gRPC
// calls ([IsGRPC]) go to g, other requests to h.
func Mixed(g *grpc.Server, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsGRPC(r) {
			g.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// NewHTTPServer returns an http.Server of h speaking HTTP/1.1 and HTTP/2
// without TLS (gRPC clients' "prior knowledge"), discarding its error log.
func NewHTTPServer(h http.Handler) *http.Server {
	hs := &http.Server{
		Handler:           h,
		Protocols:         new(http.Protocols),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	return hs
}

// ClientOptions returns [ClientOptions] of the server's address, or nil for
// a nil server.
func (s *Server) ClientOptions() []option.ClientOption {
	if s == nil {
		return nil
	}
	return ClientOptions(s.Addr)
}

// Close stops the server at once, ending open calls and requests, and
// waits until it has stopped.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	s.g.Stop()
	err := s.hs.Close()
	<-s.done
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("closing: %w", err)
	}
	return nil
}

// ClientOptions returns the options that connect a gapic client to a gRPC
// emulator at addr ("host:port"): the endpoint, no authentication and an
// insecure (plain-text) connection.
func ClientOptions(addr string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}
