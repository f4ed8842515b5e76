package emulators

import (
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"
)

// forwarder relays the unary calls of one gRPC service to an emulator's
// own listener, for an emulator that cannot be mounted on a shared server
// (fake/monitoringfake has no Register method yet). Messages are relayed
// without knowing their type: a request decoded into emptypb.Empty keeps
// every field as an unknown field, which protobuf encodes back unchanged.
type forwarder struct {
	service string // full service name, "google.monitoring.v3.MetricService"
	conn    *grpc.ClientConn
}

func newForwarder(service, addr string) (*forwarder, error) {
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("connecting to the %s emulator at %s: %w", service, addr, err)
	}
	return &forwarder{service: service, conn: conn}, nil
}

// owns reports whether the full method name belongs to the service.
func (f *forwarder) owns(method string) bool {
	return strings.HasPrefix(method, "/"+f.service+"/")
}

// relay forwards one unary call: the request, the incoming metadata, and
// back the response or the status. It does not support streaming methods.
func (f *forwarder) relay(method string, stream grpc.ServerStream) error {
	var req, resp emptypb.Empty
	if err := stream.RecvMsg(&req); err != nil {
		return err
	}
	ctx := stream.Context()
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		ctx = metadata.NewOutgoingContext(ctx, md.Copy())
	}
	if err := f.conn.Invoke(ctx, method, &req, &resp); err != nil {
		return err // keeps the emulator's status
	}
	return stream.SendMsg(&resp)
}

func (f *forwarder) close() error { return f.conn.Close() }
