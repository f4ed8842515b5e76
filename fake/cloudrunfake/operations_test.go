package cloudrunfake_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

const getOperation = "/google.longrunning.Operations/GetOperation"

func TestDoneOperationWaitsWithoutPolling(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	op, err := e.svcs.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parent, ServiceId: "web", Service: service("img:1")})
	if err != nil {
		t.Fatal(err)
	}
	if !op.Done() {
		t.Fatalf("CreateService operation Done() = false, want an operation returned already done")
	}
	meta, err := op.Metadata()
	if err != nil || meta.GetName() != svcName {
		t.Errorf("Metadata() = %v, %v; want the Service", meta, err)
	}
	if _, err := op.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Count(getOperation); n != 0 {
		t.Errorf("GetOperation calls = %d, want 0 for an operation returned done", n)
	}
	if n := e.srv.Count("CreateService"); n != 1 {
		t.Errorf("Count(CreateService) = %d, want 1", n)
	}
}

func TestManualOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cloudrunfake.WithManualOperations())
	ctx := context.Background()
	op, err := e.svcs.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parent, ServiceId: "web", Service: service("img:1")})
	if err != nil {
		t.Fatal(err)
	}
	if op.Done() {
		t.Fatalf("operation done before CompleteOperations")
	}
	pending := e.get(t, svcName)
	if !pending.GetReconciling() || pending.GetLatestReadyRevision() != "" || pending.GetLatestCreatedRevision() == "" ||
		pending.GetTerminalCondition().GetState() != runpb.Condition_CONDITION_RECONCILING {
		t.Errorf("service while pending = reconciling %v, ready %q, created %q, terminal %v; want reconciling with only a created revision",
			pending.GetReconciling(), pending.GetLatestReadyRevision(), pending.GetLatestCreatedRevision(), pending.GetTerminalCondition())
	}
	if _, err := op.Poll(ctx); err != nil || op.Done() {
		t.Fatalf("Poll before completion: done %v, err %v; want pending", op.Done(), err)
	}
	if n := e.srv.CompleteOperations(); n != 1 {
		t.Errorf("CompleteOperations() = %d, want 1", n)
	}
	got, err := op.Poll(ctx)
	if err != nil || !op.Done() {
		t.Fatalf("Poll after completion: done %v, err %v", op.Done(), err)
	}
	if got.GetReconciling() || got.GetLatestReadyRevision() != got.GetLatestCreatedRevision() || got.GetObservedGeneration() != 1 {
		t.Errorf("service after completion = %v, want reconciled", got)
	}
	if n := e.srv.Count(getOperation); n != 2 {
		t.Errorf("GetOperation calls = %d, want 2 (one per Poll)", n)
	}
	if e.srv.CompleteOperation(op.Name()) {
		t.Errorf("CompleteOperation of a done operation = true, want false")
	}

	// A failing revision completes with the error.
	fail := withImage(got, "img:2")
	e.srv.FailRevision("web-two", "no port")
	fail.Template.Revision = "web-two"
	uop, err := e.svcs.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: fail})
	if err != nil {
		t.Fatal(err)
	}
	if !e.srv.CompleteOperation(uop.Name()) {
		t.Fatalf("CompleteOperation(%q) = false", uop.Name())
	}
	if _, err := uop.Wait(ctx); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("Wait of a failed update = %v, want FailedPrecondition", err)
	}
}

func TestOperationsService(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cloudrunfake.WithManualOperations())
	ctx := context.Background()
	op1, err := e.svcs.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parent, ServiceId: "web", Service: service("img:1")})
	if err != nil {
		t.Fatal(err)
	}
	op2, err := e.svcs.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parent, ServiceId: "api", Service: service("img:1")})
	if err != nil {
		t.Fatal(err)
	}

	it := e.svcs.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: parent})
	var names []string
	for o, err := it.Next(); err == nil; o, err = it.Next() {
		names = append(names, o.GetName())
	}
	if len(names) != 2 || names[0] != op1.Name() || names[1] != op2.Name() {
		t.Errorf("ListOperations = %v, want [%s %s]", names, op1.Name(), op2.Name())
	}

	// Cancel a pending operation: it ends CANCELLED.
	if err := e.svcs.LROClient.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op2.Name()}); err != nil {
		t.Fatalf("CancelOperation: %v", err)
	}
	if _, err := op2.Wait(ctx); status.Code(err) != codes.Canceled {
		t.Errorf("Wait after cancel = %v, want Canceled", err)
	}

	// WaitOperation returns once another goroutine completes it.
	done := make(chan *longrunningpb.Operation, 1)
	go func() {
		o, err := e.svcs.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op1.Name(), Timeout: durationpb.New(time.Hour)})
		if err != nil {
			t.Errorf("WaitOperation: %v", err)
		}
		done <- o
	}()
	e.srv.CompleteOperation(op1.Name())
	if o := <-done; !o.GetDone() {
		t.Errorf("WaitOperation returned %v, want done", o)
	}
	// Without a timeout it never blocks.
	op3, err := e.svcs.DeleteService(ctx, &runpb.DeleteServiceRequest{Name: svcName})
	if err != nil {
		t.Fatal(err)
	}
	if o, err := e.svcs.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op3.Name()}); err != nil || o.GetDone() {
		t.Errorf("WaitOperation without timeout = %v, %v; want the pending operation at once", o, err)
	}

	if err := e.svcs.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: op1.Name()}); err != nil {
		t.Fatalf("DeleteOperation: %v", err)
	}
	if _, err := e.svcs.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op1.Name()}); status.Code(err) != codes.NotFound {
		t.Errorf("GetOperation after delete = %v, want NotFound", err)
	}
	// The done filter: op3 (DeleteService) is pending, op2 is done.
	list := func(filter string) (names []string, err error) {
		it := e.svcs.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: parent, Filter: filter})
		for {
			o, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return names, nil
			}
			if err != nil {
				return nil, err
			}
			names = append(names, o.GetName())
		}
	}
	if pending, err := list("done = false"); err != nil || !slices.Contains(pending, op3.Name()) || slices.Contains(pending, op2.Name()) {
		t.Errorf("ListOperations(done = false) = %q, %v; want the pending %s and not the done %s", pending, err, op3.Name(), op2.Name())
	}
	if finished, err := list("done=true"); err != nil || slices.Contains(finished, op3.Name()) || !slices.Contains(finished, op2.Name()) {
		t.Errorf("ListOperations(done=true) = %q, %v", finished, err)
	}
	if _, err := list(`metadata.@type="x"`); status.Code(err) != codes.InvalidArgument {
		t.Errorf("ListOperations with an unsupported filter = %v, want InvalidArgument", err)
	}
}

func TestDeleteService(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	created := e.create(t, "web", service("img:1"))
	op, err := e.svcs.DeleteService(ctx, &runpb.DeleteServiceRequest{Name: svcName, ValidateOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.srv.Service(svcName); !ok {
		t.Fatalf("validate_only delete removed the service")
	}
	op, err = e.svcs.DeleteService(ctx, &runpb.DeleteServiceRequest{Name: svcName, Etag: created.GetEtag()})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := op.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gone.GetName() != svcName || !gone.GetDeleteTime().AsTime().Equal(e.clk.Now()) {
		t.Errorf("delete response = %v, want the service with delete_time now", gone)
	}
	if _, err := e.svcs.GetService(ctx, &runpb.GetServiceRequest{Name: svcName}); status.Code(err) != codes.NotFound {
		t.Errorf("GetService after delete = %v, want NotFound", err)
	}
	if e.srv.Revisions(svcName) != nil {
		t.Errorf("revisions survive their service")
	}
	if _, err := e.svcs.DeleteService(ctx, &runpb.DeleteServiceRequest{Name: svcName}); status.Code(err) != codes.NotFound {
		t.Errorf("DeleteService twice = %v, want NotFound", err)
	}
}

func TestManualOperationsTwoPendingWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cloudrunfake.WithManualOperations())
	ctx := context.Background()
	op0, err := e.svcs.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parent, ServiceId: "web", Service: service("img:1")})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.CompleteOperations()
	base, err := op0.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	op1, err := e.svcs.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: withRevision(withImage(base, "img:2"), "web-two")})
	if err != nil {
		t.Fatal(err)
	}
	mid := e.get(t, svcName)
	next := withRevision(withImage(mid, "img:3"), "web-three")
	next.Traffic = []*runpb.TrafficTarget{{Type: revisionT, Revision: "web-three", Percent: 100}}
	op2, err := e.svcs.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: next})
	if err != nil {
		t.Fatal(err)
	}
	if !e.srv.CompleteOperation(op1.Name()) {
		t.Fatal("CompleteOperation(op1) = false")
	}
	if _, err := op1.Wait(ctx); err != nil {
		t.Fatalf("first write: %v", err)
	}
	if got := e.get(t, svcName); !got.GetReconciling() || got.GetLatestReadyRevision() != svcName+"/revisions/web-two" {
		t.Errorf("after the first of two writes: reconciling %v, latest ready %q; want still reconciling with web-two ready", got.GetReconciling(), got.GetLatestReadyRevision())
	}
	if n := e.srv.CompleteOperations(); n != 1 {
		t.Errorf("CompleteOperations() = %d, want 1", n)
	}
	got, err := op2.Wait(ctx)
	if err != nil {
		t.Fatalf("second write: %v", err)
	}
	if got.GetReconciling() || got.GetLatestReadyRevision() != svcName+"/revisions/web-three" || got.GetObservedGeneration() != 3 {
		t.Errorf("after both writes: %v, want reconciled at generation 3 with web-three ready", got)
	}
}
