package emulator

import (
	"context"
	"errors"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ops is an Operations server that knows the operations named in names.
type ops struct {
	longrunningpb.UnimplementedOperationsServer
	names map[string]bool
	tag   string
}

func (o *ops) GetOperation(_ context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	if !o.names[req.GetName()] {
		return nil, status.Errorf(codes.NotFound, "%s: no operation %q", o.tag, req.GetName())
	}
	return &longrunningpb.Operation{Name: req.GetName(), Metadata: nil, Done: true}, nil
}

// serve starts a server with register and returns an Operations client.
func serve(t *testing.T, register func(grpc.ServiceRegistrar)) longrunningpb.OperationsClient {
	t.Helper()
	s, err := Listen("", register)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	conn, err := grpc.NewClient(s.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return longrunningpb.NewOperationsClient(conn)
}

// sleepClock is a clock whose Sleep is the function.
type sleepClock func(ctx context.Context, d time.Duration) error

func (c sleepClock) Now() time.Time                                   { return time.Time{} }
func (c sleepClock) Sleep(ctx context.Context, d time.Duration) error { return c(ctx, d) }

func TestInterceptLogAndFaults(t *testing.T) {
	t.Parallel()
	var slept []time.Duration
	log := &Log{Keep: 2}
	faults := &Faults{
		Latency: map[string]time.Duration{longrunningpb.Operations_GetOperation_FullMethodName: time.Minute},
		Clock: sleepClock(func(ctx context.Context, d time.Duration) error {
			slept = append(slept, d) // calls are sequential in this test
			return ctx.Err()
		}),
		Hook: func(_ string, req any) error {
			if req.(*longrunningpb.GetOperationRequest).GetName() == "hooked" {
				return status.Error(codes.PermissionDenied, "hooked")
			}
			return nil
		},
	}
	impl := &ops{names: map[string]bool{"a": true}, tag: "one"}
	c := serve(t, func(r grpc.ServiceRegistrar) {
		longrunningpb.RegisterOperationsServer(Intercept(r, Chain(log.Intercept, faults.Intercept)), impl)
	})
	ctx := t.Context()
	faults.Inject(longrunningpb.Operations_GetOperation_FullMethodName, status.Error(codes.Unavailable, "injected"), 1)
	var codesGot []codes.Code
	for _, name := range []string{"a", "a", "hooked", "missing"} {
		_, err := c.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
		codesGot = append(codesGot, status.Code(err))
	}
	if diff := cmp.Diff([]codes.Code{codes.Unavailable, codes.OK, codes.PermissionDenied, codes.NotFound}, codesGot); diff != "" {
		t.Errorf("codes mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Duration{time.Minute, time.Minute, time.Minute, time.Minute}, slept); diff != "" {
		t.Errorf("sleeps mismatch (-want +got):\n%s", diff)
	}
	m := longrunningpb.Operations_GetOperation_FullMethodName
	want := []Request{
		{Method: m, Request: &longrunningpb.GetOperationRequest{Name: "hooked"}, Code: codes.PermissionDenied},
		{Method: m, Request: &longrunningpb.GetOperationRequest{Name: "missing"}, Code: codes.NotFound},
	}
	if diff := cmp.Diff(want, log.Requests(), protocmp.Transform()); diff != "" {
		t.Errorf("Requests() mismatch (-want +got):\n%s", diff)
	}
	for _, q := range []string{m, "GetOperation"} {
		if got := log.Count(q); got != 4 {
			t.Errorf("Count(%q) = %d, want 4 (Keep does not limit counts)", q, got)
		}
	}
	if got := log.Count("Operation"); got != 0 {
		t.Errorf("Count(%q) = %d, want 0", "Operation", got)
	}
	log.Reset()
	if got, n := log.Requests(), log.Count(m); len(got) != 0 || n != 0 {
		t.Errorf("after Reset: %d requests, count %d; want none", len(got), n)
	}
}

func TestFaultsLatencyEndsWithContext(t *testing.T) {
	t.Parallel()
	f := &Faults{
		Latency: map[string]time.Duration{"/s/M": time.Hour},
		Clock:   sleepClock(func(context.Context, time.Duration) error { return context.DeadlineExceeded }),
	}
	ran := false
	_, err := f.Intercept(t.Context(), nil, &grpc.UnaryServerInfo{FullMethod: "/s/M"}, func(context.Context, any) (any, error) {
		ran = true
		return nil, nil
	})
	if status.Code(err) != codes.DeadlineExceeded || ran {
		t.Errorf("Intercept = %v (ran %v), want DeadlineExceeded without running", err, ran)
	}
}

func TestFaultsInjectTimes(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name  string
		times int
		err   error
		want  []bool // whether each of 3 calls fails
	}{
		{"twice", 2, boom, []bool{true, true, false}},
		{"always", -1, boom, []bool{true, true, true}},
		{"removed by zero", 0, boom, []bool{false, false, false}},
		{"removed by nil", 3, nil, []bool{false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var f Faults
			f.Inject("/s/M", boom, 5)
			f.Inject("/s/M", tt.err, tt.times)
			var got []bool
			for range 3 {
				_, err := f.Intercept(t.Context(), nil, &grpc.UnaryServerInfo{FullMethod: "/s/M"}, func(context.Context, any) (any, error) { return nil, nil })
				got = append(got, err != nil)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("failures mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMuxSharesAService(t *testing.T) {
	t.Parallel()
	one, two := &Log{}, &Log{}
	var mux Mux
	longrunningpb.RegisterOperationsServer(Intercept(&mux, one.Intercept), &ops{names: map[string]bool{"op-1": true}, tag: "one"})
	longrunningpb.RegisterOperationsServer(Intercept(&mux, two.Intercept), &ops{names: map[string]bool{"op-2": true}, tag: "two"})
	if diff := cmp.Diff([]string{"google.longrunning.Operations"}, mux.Services()); diff != "" {
		t.Errorf("Services() mismatch (-want +got):\n%s", diff)
	}
	c := serve(t, func(r grpc.ServiceRegistrar) {
		if err := mux.Install(r); err != nil {
			t.Fatal(err)
		}
	})
	ctx := t.Context()
	for _, name := range []string{"op-1", "op-2"} {
		op, err := c.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
		if err != nil || op.GetName() != name {
			t.Errorf("GetOperation(%q) = %v, %v; want the operation", name, op, err)
		}
	}
	_, err := c.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: "op-3"})
	if status.Code(err) != codes.NotFound || status.Convert(err).Message() != `one: no operation "op-3"` {
		t.Errorf("GetOperation(op-3) = %v, want the first emulator's NOT_FOUND", err)
	}
	_, err = c.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: "op-1"})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("DeleteOperation = %v, want UNIMPLEMENTED from both", err)
	}
	// op-1: one; op-2: one (NOT_FOUND) then two; op-3: both; Delete: both.
	if a, b := one.Count("GetOperation"), two.Count("GetOperation"); a != 3 || b != 2 {
		t.Errorf("GetOperation counts = %d, %d; want 3, 2", a, b)
	}
}

func TestMuxRefusesSharedStreams(t *testing.T) {
	t.Parallel()
	desc := &grpc.ServiceDesc{ServiceName: "s.S", HandlerType: (*any)(nil), Streams: []grpc.StreamDesc{{StreamName: "W"}}}
	var mux Mux
	mux.RegisterService(desc, struct{}{})
	mux.RegisterService(desc, struct{}{})
	if err := mux.Install(grpc.NewServer()); err == nil {
		t.Error("Install of a shared streaming service = nil, want an error")
	}
}

func TestNilServer(t *testing.T) {
	t.Parallel()
	var s *Server
	if s.ClientOptions() != nil || s.Close() != nil {
		t.Error("nil *Server: want nil options and Close")
	}
	if _, err := Listen("256.0.0.1:0", func(grpc.ServiceRegistrar) {}); err == nil {
		t.Error("Listen on a bad address = nil error")
	}
}
