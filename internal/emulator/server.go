package emulator

import (
	"fmt"
	"net"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// DefaultAddress is the address [Listen] uses for an empty one: loopback,
// a free port.
const DefaultAddress = "127.0.0.1:0"

// Server is a grpc.Server serving on its own listener. A nil *Server is an
// emulator without a listener (mounted elsewhere): its methods do nothing.
type Server struct {
	// Addr is the "host:port" the server listens on.
	Addr string

	g    *grpc.Server
	done chan struct{} // closed when Serve returns
}

// Listen listens on addr ([DefaultAddress] when empty), creates a
// grpc.Server with opts, lets register add the services, and serves in a
// goroutine until [Server.Close].
func Listen(addr string, register func(grpc.ServiceRegistrar), opts ...grpc.ServerOption) (*Server, error) {
	if addr == "" {
		addr = DefaultAddress
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %q: %w", addr, err)
	}
	g := grpc.NewServer(opts...)
	register(g)
	s := &Server{Addr: lis.Addr().String(), g: g, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = g.Serve(lis) // returns when Close stops the server
	}()
	return s, nil
}

// ClientOptions returns [ClientOptions] of the server's address, or nil for
// a nil server.
func (s *Server) ClientOptions() []option.ClientOption {
	if s == nil {
		return nil
	}
	return ClientOptions(s.Addr)
}

// Close stops the server at once, ending open calls, and waits until it has
// stopped. It always returns nil.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	s.g.Stop()
	<-s.done
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
