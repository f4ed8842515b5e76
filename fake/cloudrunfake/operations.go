package cloudrunfake

import (
	"context"
	"strings"
	"time"

	"github.com/twostage/twostage/internal/emulator"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
)

// operation is one long-running operation.
type operation struct {
	op      *longrunningpb.Operation // mutated only under server.mu; cloned on the way out
	pending *pending                 // reconciliation to run on completion, or nil
	result  proto.Message            // response when pending is nil
	done    chan struct{}            // closed on completion
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic("cloudrunfake: packing " + string(proto.MessageName(m)) + ": " + err.Error()) // programmer error: every message we pack is registered
	}
	return a
}

func (s *server) addOperation(project, location string, meta proto.Message, p *pending, result proto.Message) *operation {
	name := "projects/" + project + "/locations/" + location + "/operations/" + s.operationID()
	op := &operation{
		op:      &longrunningpb.Operation{Name: name, Metadata: mustAny(meta)},
		pending: p,
		result:  result,
		done:    make(chan struct{}),
	}
	s.pruneOperations()
	s.ops[name] = op
	s.opOrder = append(s.opOrder, name)
	if p != nil {
		s.pendingOps[p.service]++
	}
	return op
}

// pruneOperations makes room for one more operation by forgetting the
// oldest done ones (WithMaxOperations).
func (s *server) pruneOperations() {
	if len(s.ops) < s.cfg.maxOps && len(s.opOrder) < 2*s.cfg.maxOps {
		return
	}
	excess := len(s.ops) - s.cfg.maxOps + 1
	kept := s.opOrder[:0]
	for _, name := range s.opOrder {
		op := s.ops[name]
		switch {
		case op == nil: // deleted by DeleteOperation
		case excess > 0 && op.op.GetDone():
			delete(s.ops, name)
			excess--
		default:
			kept = append(kept, name)
		}
	}
	clear(s.opOrder[len(kept):])
	s.opOrder = kept
}

// doneOperation records an operation that is already done with response
// result (validate_only writes). Its metadata is meta.
func (s *server) doneOperation(project, location string, meta, result proto.Message) *longrunningpb.Operation {
	op := s.addOperation(project, location, meta, nil, proto.Clone(result))
	s.complete(op, nil)
	return proto.Clone(op.op).(*longrunningpb.Operation)
}

// startOperation records the operation of a write. By default it completes
// at once, so the Operation the client receives is already done and Wait
// returns without polling (the gapic Operation.Wait); with
// WithManualOperations it stays pending until completed by the test.
func (s *server) startOperation(project, location string, meta proto.Message, p *pending, result proto.Message) *longrunningpb.Operation {
	var r proto.Message
	if result != nil {
		r = proto.Clone(result)
	}
	op := s.addOperation(project, location, meta, p, r)
	if !s.cfg.manualOps {
		s.complete(op, nil)
	}
	return proto.Clone(op.op).(*longrunningpb.Operation)
}

// complete finishes op: runs its reconciliation and records the result, or
// cancelErr when the caller cancelled it.
func (s *server) complete(op *operation, cancelErr error) {
	var err error
	result := op.result
	if p := op.pending; p != nil {
		if s.pendingOps[p.service]--; s.pendingOps[p.service] <= 0 {
			delete(s.pendingOps, p.service)
		}
		st := s.services[p.service]
		if st == nil {
			err = status.Errorf(codes.NotFound, "service %q was deleted before its operation completed", p.service)
		} else {
			err = s.reconcile(st, p)
			// Still reconciling while another write's operation is pending.
			st.svc.Reconciling = s.pendingOps[p.service] > 0
			op.op.Metadata = mustAny(st.svc)
			result = st.svc
		}
	}
	if cancelErr != nil {
		err = cancelErr
	}
	s.finish(op, result, err)
}

func (s *server) finish(op *operation, result proto.Message, err error) {
	op.op.Done = true
	if err != nil {
		op.op.Result = &longrunningpb.Operation_Error{Error: status.Convert(err).Proto()}
	} else {
		op.op.Result = &longrunningpb.Operation_Response{Response: mustAny(result)}
	}
	op.pending = nil
	close(op.done)
}

func (s *server) operation(name string) (*operation, error) {
	op := s.ops[name]
	if op == nil {
		return nil, status.Errorf(codes.NotFound, "operation %q does not exist", name)
	}
	return op, nil
}

// GetOperation returns an operation's current state.
func (s *server) GetOperation(_ context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op, err := s.operation(req.GetName())
	if err != nil {
		return nil, err
	}
	return proto.Clone(op.op).(*longrunningpb.Operation), nil
}

// ListOperations lists the operations under name "projects/P/locations/L"
// in creation order. The filter (AIP-160) may compare done with true or
// false ("done = false", "done=true"), the filter the Cloud Run client
// docs show for pending operations; any other filter is INVALID_ARGUMENT
// naming what is supported (the real API's filter grammar is wider and
// unverified).
func (s *server) ListOperations(_ context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	keep := func(*operation) bool { return true }
	if f := strings.Join(strings.Fields(req.GetFilter()), ""); f != "" {
		want, ok := map[string]bool{"done=true": true, "done=false": false}[f]
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "cloudrunfake: ListOperations filter %q is not supported; the emulator filters on done only: \"done = true\" or \"done = false\"", req.GetFilter())
		}
		keep = func(op *operation) bool { return op.op.GetDone() == want }
	}
	if _, _, err := parseParent(req.GetName()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix := req.GetName() + "/operations/"
	var all []*operation
	for _, name := range s.opOrder {
		if op := s.ops[name]; op != nil && len(name) > len(prefix) && name[:len(prefix)] == prefix && keep(op) {
			all = append(all, op)
		}
	}
	items, next, err := emulator.Page(all, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &longrunningpb.ListOperationsResponse{NextPageToken: next}
	for _, op := range items {
		resp.Operations = append(resp.Operations, proto.Clone(op.op).(*longrunningpb.Operation))
	}
	return resp, nil
}

// DeleteOperation forgets an operation ("the client is no longer interested
// in the operation result").
func (s *server) DeleteOperation(_ context.Context, req *longrunningpb.DeleteOperationRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.operation(req.GetName()); err != nil {
		return nil, err
	}
	delete(s.ops, req.GetName())
	return &emptypb.Empty{}, nil
}

// CancelOperation cancels a pending operation: it ends with the error
// CANCELLED ("an Operation.error value with a google.rpc.Status.code of 1").
// The write it belongs to was already accepted; its reconciliation still runs
// so the service is left consistent (the real service makes only "a best
// effort to cancel"). A done operation is left as it is.
func (s *server) CancelOperation(_ context.Context, req *longrunningpb.CancelOperationRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op, err := s.operation(req.GetName())
	if err != nil {
		return nil, err
	}
	if !op.op.GetDone() {
		s.complete(op, status.Error(codes.Canceled, "operation cancelled by the caller"))
	}
	return &emptypb.Empty{}, nil
}

// WaitOperation waits until the operation is done, req.timeout passes or the
// caller's context ends, and returns its state then. Without a timeout it
// returns the current state at once, so it never blocks forever.
func (s *server) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	s.mu.Lock()
	op, err := s.operation(req.GetName())
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if d := req.GetTimeout().AsDuration(); req.GetTimeout() != nil && d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-op.done:
		case <-t.C:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.Clone(op.op).(*longrunningpb.Operation), nil
}
