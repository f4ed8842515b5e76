package cloudrunfake_test

import (
	"context"
	"strings"
	"testing"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

func revNames(revs []*runpb.Revision) []string {
	var out []string
	for _, r := range revs {
		out = append(out, strings.TrimPrefix(r.GetName(), svcName+"/revisions/"))
	}
	return out
}

func short(full string) string { return full[strings.LastIndex(full, "/")+1:] }

func TestTemplateChangesAndGeneration(t *testing.T) {
	t.Parallel()
	type step struct {
		name    string
		mutate  func(*runpb.Service)
		force   bool
		wantGen int64
		wantNew bool // a new revision
	}
	steps := []step{
		{"same spec: nothing new", func(*runpb.Service) {}, false, 1, false},
		{"new image: new revision", func(s *runpb.Service) { s.Template.Containers[0].Image = "img:2" }, false, 2, true},
		{"service label: new generation, no revision", func(s *runpb.Service) { s.Labels = map[string]string{"team": "a"} }, false, 3, false},
		{"force_new_revision", func(*runpb.Service) {}, true, 4, true},
		{"template label: new revision", func(s *runpb.Service) { s.Template.Labels = map[string]string{"v": "1"} }, false, 5, true},
		{"named revision", func(s *runpb.Service) { s.Template.Revision = "web-v1" }, false, 6, true},
		{"same named template: nothing new", func(*runpb.Service) {}, false, 6, false},
	}
	e := newEnv(t)
	cur := e.create(t, "web", service("img:1"))
	for _, st := range steps {
		before := len(e.srv.Revisions(svcName))
		next := proto.Clone(cur).(*runpb.Service)
		st.mutate(next)
		got, err := e.update(t, &runpb.UpdateServiceRequest{Service: next, ForceNewRevision: st.force})
		if err != nil {
			t.Fatalf("%s: UpdateService: %v", st.name, err)
		}
		if got.GetGeneration() != st.wantGen || got.GetObservedGeneration() != st.wantGen {
			t.Errorf("%s: generation %d, observed %d; want both %d", st.name, got.GetGeneration(), got.GetObservedGeneration(), st.wantGen)
		}
		if got.GetEtag() == cur.GetEtag() {
			t.Errorf("%s: etag unchanged after a write", st.name)
		}
		revs := e.srv.Revisions(svcName)
		if gotNew := len(revs) > before; gotNew != st.wantNew {
			t.Errorf("%s: new revision = %v, want %v (revisions %v)", st.name, gotNew, st.wantNew, revNames(revs))
		}
		if got.GetLatestReadyRevision() != got.GetLatestCreatedRevision() || got.GetLatestCreatedRevision() != revs[0].GetName() {
			t.Errorf("%s: latest ready %q, created %q, newest %q: want all equal", st.name, got.GetLatestReadyRevision(), got.GetLatestCreatedRevision(), revs[0].GetName())
		}
		cur = got
	}
	names := revNames(e.srv.Revisions(svcName))
	for i, prefix := range []string{"web-v1", "web-00005-", "web-00004-", "web-00002-", "web-00001-"} {
		if !strings.HasPrefix(names[i], prefix) || (strings.HasSuffix(prefix, "-") && len(names[i]) != len(prefix)+3) {
			t.Errorf("revision %d = %q, want %sxxx (newest first)", i, names[i], prefix)
		}
	}
}

func TestRevisionNameRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, rev string
		code      codes.Code
	}{
		{"ok", "web-v1-4-2-abc1234", codes.OK},
		{"missing service prefix", "api-v1", codes.InvalidArgument},
		{"only the prefix", "web-", codes.InvalidArgument},
		{"upper case", "web-V1", codes.InvalidArgument},
		{"dots", "web-v1.4.2", codes.InvalidArgument},
		{"ends with hyphen", "web-v1-", codes.InvalidArgument},
		{"64 chars", "web-" + strings.Repeat("a", 60), codes.InvalidArgument},
		{"63 chars", "web-" + strings.Repeat("a", 59), codes.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			s := service("img:1")
			s.Template.Revision = tc.rev
			op, err := e.svcs.CreateService(context.Background(), &runpb.CreateServiceRequest{Parent: parent, ServiceId: "web", Service: s})
			if got := status.Code(err); got != tc.code {
				t.Fatalf("CreateService with revision %q: code %v (%v), want %v", tc.rev, got, err, tc.code)
			}
			if err != nil {
				return
			}
			got, err := op.Wait(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if want := svcName + "/revisions/" + tc.rev; got.GetLatestReadyRevision() != want {
				t.Errorf("latest_ready_revision = %q, want %q", got.GetLatestReadyRevision(), want)
			}
		})
	}
}

func TestRevisionReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := service("img:1")
	s.Template.Revision = "web-one"
	first := e.create(t, "web", s)
	second, err := e.update(t, &runpb.UpdateServiceRequest{Service: withRevision(withImage(first, "img:2"), "web-two")})
	if err != nil {
		t.Fatalf("deploying web-two: %v", err)
	}

	// Same name, same configuration: adopted, no new revision.
	back, err := e.update(t, &runpb.UpdateServiceRequest{Service: withRevision(withImage(second, "img:1"), "web-one")})
	if err != nil {
		t.Fatalf("re-deploying web-one with its own template: %v", err)
	}
	if got := revNames(e.srv.Revisions(svcName)); !cmp.Equal(got, []string{"web-two", "web-one"}) {
		t.Errorf("revisions after adopting web-one = %v, want [web-two web-one]", got)
	}
	// latest_created_revision stays on the newest (ready) revision (unverified).
	if back.GetLatestCreatedRevision() != second.GetLatestCreatedRevision() || back.GetLatestReadyRevision() != second.GetLatestReadyRevision() {
		t.Errorf("after adopting web-one: created %q, ready %q; want both unchanged %q", back.GetLatestCreatedRevision(), back.GetLatestReadyRevision(), second.GetLatestCreatedRevision())
	}

	// Same name, different configuration: ALREADY_EXISTS, nothing persisted.
	_, err = e.update(t, &runpb.UpdateServiceRequest{Service: withRevision(withImage(back, "img:3"), "web-one")})
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("reusing web-one with another image: %v, want AlreadyExists", err)
	}
	if want := "Revision named 'web-one' with different configuration already exists."; status.Convert(err).Message() != want {
		t.Errorf("message = %q, want %q", status.Convert(err).Message(), want)
	}
	if diff := cmp.Diff(back, e.get(t, svcName), protocmp.Transform()); diff != "" {
		t.Errorf("a refused write changed the service (-want +got):\n%s", diff)
	}
	// force_new_revision with an existing name cannot make a new revision.
	_, err = e.update(t, &runpb.UpdateServiceRequest{Service: back, ForceNewRevision: true})
	if status.Code(err) != codes.AlreadyExists {
		t.Errorf("force_new_revision reusing web-one: %v, want AlreadyExists", err)
	}
}

func withRevision(s *runpb.Service, rev string) *runpb.Service {
	s.Template.Revision = rev
	return s
}

func TestFailingRevision(t *testing.T) {
	t.Parallel()
	const msg = "The user-provided container failed to start and listen on the port defined provided by the PORT=8080 environment variable."
	e := newEnv(t, cloudrunfake.WithFailingImage("img:bad", msg))
	good := e.create(t, "web", service("img:1"))
	bad := withRevision(withImage(good, "img:bad"), "web-bad")
	bad.Traffic = []*runpb.TrafficTarget{{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION, Revision: "web-bad", Percent: 100}}
	_, err := e.update(t, &runpb.UpdateServiceRequest{Service: bad})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("deploying a failing image: Wait error %v, want FailedPrecondition", err)
	}
	if want := "Revision 'web-bad' is not ready and cannot serve traffic. " + msg; status.Convert(err).Message() != want {
		t.Errorf("Wait error message = %q, want %q", status.Convert(err).Message(), want)
	}
	got := e.get(t, svcName)
	if got.GetLatestReadyRevision() != good.GetLatestReadyRevision() {
		t.Errorf("latest_ready_revision = %q, want unchanged %q", got.GetLatestReadyRevision(), good.GetLatestReadyRevision())
	}
	if got.GetLatestCreatedRevision() != svcName+"/revisions/web-bad" {
		t.Errorf("latest_created_revision = %q, want web-bad", got.GetLatestCreatedRevision())
	}
	// The failed write's spec stays (Service.reconciling; the real API was
	// seen keeping spec.traffic, Lore-Hex/quill-router PR #781), while
	// traffic_statuses keep the last serving state.
	if diff := cmp.Diff(bad.GetTraffic(), got.GetTraffic(), protocmp.Transform()); diff != "" {
		t.Errorf("spec traffic after a failed write (-want the write's +got):\n%s", diff)
	}
	if diff := cmp.Diff(good.GetTrafficStatuses(), got.GetTrafficStatuses(), protocmp.Transform()); diff != "" {
		t.Errorf("traffic_statuses changed by a failed write (-want +got):\n%s", diff)
	}
	if tc := got.GetTerminalCondition(); tc.GetState() != runpb.Condition_CONDITION_FAILED || !strings.Contains(tc.GetMessage(), msg) {
		t.Errorf("terminal_condition = %v, want FAILED with the message", tc)
	}
	if got.GetObservedGeneration() != good.GetObservedGeneration() || got.GetGeneration() != good.GetGeneration()+1 {
		t.Errorf("generation %d observed %d, want %d observed %d", got.GetGeneration(), got.GetObservedGeneration(), good.GetGeneration()+1, good.GetObservedGeneration())
	}
	rev, err := e.revs.GetRevision(context.Background(), &runpb.GetRevisionRequest{Name: svcName + "/revisions/web-bad"})
	if err != nil {
		t.Fatalf("GetRevision(web-bad): %v", err)
	}
	if c := rev.GetConditions()[0]; c.GetType() != "Ready" || c.GetState() != runpb.Condition_CONDITION_FAILED || c.GetMessage() != msg {
		t.Errorf("web-bad Ready condition = %v, want FAILED with %q", c, msg)
	}

	// Routing traffic to the failed revision later fails the same way.
	got.Traffic = bad.Traffic
	got.Template = good.Template
	if _, err := e.update(t, &runpb.UpdateServiceRequest{Service: got}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("routing 100%% to a failed revision: %v, want FailedPrecondition", err)
	}
	// A tag-only entry (percent 0) on it is fine.
	ok := e.get(t, svcName)
	ok.Traffic = append(good.GetTraffic(), &runpb.TrafficTarget{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION, Revision: "web-bad", Tag: "broken"})
	if _, err := e.update(t, &runpb.UpdateServiceRequest{Service: ok}); err != nil {
		t.Errorf("tagging a failed revision with 0%%: %v", err)
	}
}

func TestFailRevision(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := e.create(t, "web", service("img:1"))
	e.srv.FailRevision(svcName+"/revisions/web-next", "boom")
	_, err := e.update(t, &runpb.UpdateServiceRequest{Service: withRevision(withImage(good, "img:2"), "web-next")})
	if status.Code(err) != codes.FailedPrecondition || !strings.HasSuffix(status.Convert(err).Message(), "cannot serve traffic. boom") {
		t.Errorf("deploying a revision marked to fail: %v, want FailedPrecondition ending in the message", err)
	}
	// Failing an existing revision marks its Ready condition.
	e.srv.FailRevision(short(good.GetLatestReadyRevision()), "crashed")
	rev, err := e.revs.GetRevision(context.Background(), &runpb.GetRevisionRequest{Name: good.GetLatestReadyRevision()})
	if err != nil {
		t.Fatal(err)
	}
	if rev.GetConditions()[0].GetState() != runpb.Condition_CONDITION_FAILED {
		t.Errorf("revision after FailRevision: %v, want FAILED", rev.GetConditions())
	}
}

func TestListRevisionsPaginationAndNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cur := e.create(t, "web", service("img:0"))
	for i := 1; i < 5; i++ {
		var err error
		if cur, err = e.update(t, &runpb.UpdateServiceRequest{Service: withImage(cur, "img:"+string(rune('0'+i)))}); err != nil {
			t.Fatal(err)
		}
	}
	e.create(t, "api", service("img:a"))
	ctx := context.Background()
	e.srv.ResetRequests()
	it := e.revs.ListRevisions(ctx, &runpb.ListRevisionsRequest{Parent: svcName, PageSize: 2})
	var got []string
	for {
		r, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("ListRevisions: %v", err)
		}
		got = append(got, r.GetContainers()[0].GetImage())
	}
	if diff := cmp.Diff([]string{"img:4", "img:3", "img:2", "img:1", "img:0"}, got); diff != "" {
		t.Errorf("ListRevisions images mismatch (-want +got):\n%s", diff)
	}
	if n := e.srv.Count(runpb.Revisions_ListRevisions_FullMethodName); n != 3 {
		t.Errorf("ListRevisions calls = %d, want 3 pages of 2", n)
	}
	all := e.revs.ListRevisions(ctx, &runpb.ListRevisionsRequest{Parent: parent + "/services/-"})
	n := 0
	for _, err := all.Next(); err != iterator.Done; _, err = all.Next() {
		if err != nil {
			t.Fatalf("ListRevisions(-): %v", err)
		}
		n++
	}
	if n != 6 {
		t.Errorf("ListRevisions(services/-) = %d revisions, want 6", n)
	}
	if _, err := e.revs.ListRevisions(ctx, &runpb.ListRevisionsRequest{Parent: parent + "/services/nope"}).Next(); status.Code(err) != codes.NotFound {
		t.Errorf("ListRevisions(missing service) = %v, want NotFound", err)
	}
	if _, err := e.revs.GetRevision(ctx, &runpb.GetRevisionRequest{Name: svcName + "/revisions/web-nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetRevision(missing) = %v, want NotFound", err)
	}
	if _, err := e.revs.ListRevisions(ctx, &runpb.ListRevisionsRequest{Parent: svcName, PageToken: "garbage"}).Next(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("ListRevisions(bad token) = %v, want InvalidArgument", err)
	}
}

func TestDeleteRevision(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.create(t, "web", service("img:1"))
	old := first.GetLatestReadyRevision()
	second, err := e.update(t, &runpb.UpdateServiceRequest{Service: withImage(first, "img:2")})
	if err != nil {
		t.Fatal(err)
	}
	latest := second.GetLatestReadyRevision()
	// Tag the old revision.
	tagged := proto.Clone(second).(*runpb.Service)
	tagged.Traffic = append(tagged.Traffic, &runpb.TrafficTarget{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION, Revision: short(old), Tag: "prev"})
	third, err := e.update(t, &runpb.UpdateServiceRequest{Service: tagged})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name, rev string
		code      codes.Code
	}{
		{"serving via LATEST", latest, codes.FailedPrecondition},
		{"tagged", old, codes.FailedPrecondition},
		{"missing", svcName + "/revisions/web-nope", codes.NotFound},
	} {
		_, err := e.revs.DeleteRevision(ctx, &runpb.DeleteRevisionRequest{Name: tc.rev})
		if got := status.Code(err); got != tc.code {
			t.Errorf("%s: DeleteRevision(%s) code %v (%v), want %v", tc.name, short(tc.rev), got, err, tc.code)
		}
	}
	// Untag, then delete.
	third.Traffic = third.Traffic[:1]
	if _, err := e.update(t, &runpb.UpdateServiceRequest{Service: third}); err != nil {
		t.Fatal(err)
	}
	op, err := e.revs.DeleteRevision(ctx, &runpb.DeleteRevisionRequest{Name: old})
	if err != nil {
		t.Fatalf("DeleteRevision(untagged old): %v", err)
	}
	gone, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("DeleteRevision Wait: %v", err)
	}
	if gone.GetName() != old || gone.GetDeleteTime() == nil {
		t.Errorf("DeleteRevision response = %v, want the revision with delete_time", gone)
	}
	if _, err := e.revs.GetRevision(ctx, &runpb.GetRevisionRequest{Name: old}); status.Code(err) != codes.NotFound {
		t.Errorf("GetRevision after delete = %v, want NotFound", err)
	}
}

// TestAfterFailedDeploy: a traffic change that keeps the failed template
// still works (rollback routes around the failed revision), re-applying the
// previous template by its revision name adopts that revision and makes it
// the latest created one again, and adopting the failed revision by name
// fails again.
func TestAfterFailedDeploy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cloudrunfake.WithFailingImage("img:bad", "crash"))
	s := service("img:1")
	s.Template.Revision = "web-good"
	good := e.create(t, "web", s)
	bad := withRevision(withImage(good, "img:bad"), "web-bad")
	bad.Traffic = []*runpb.TrafficTarget{{Type: revisionT, Revision: "web-good", Percent: 100}, {Type: revisionT, Revision: "web-bad", Tag: "candidate"}}
	if _, err := e.update(t, &runpb.UpdateServiceRequest{Service: bad}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("failing deploy: %v, want FailedPrecondition", err)
	}
	rollback := e.get(t, svcName)
	rollback.Traffic = []*runpb.TrafficTarget{{Type: revisionT, Revision: "web-good", Percent: 100}}
	if _, err := e.update(t, &runpb.UpdateServiceRequest{Service: rollback}); err != nil {
		t.Errorf("traffic change after a failed deploy: %v, want success", err)
	}
	if got := revNames(e.srv.Revisions(svcName)); !cmp.Equal(got, []string{"web-bad", "web-good"}) {
		t.Errorf("revisions = %v, want [web-bad web-good]", got)
	}

	back := withRevision(withImage(e.get(t, svcName), "img:1"), "web-good")
	got, err := e.update(t, &runpb.UpdateServiceRequest{Service: back})
	if err != nil {
		t.Fatalf("re-applying the good template by name: %v", err)
	}
	want := svcName + "/revisions/web-good"
	if got.GetLatestCreatedRevision() != want || got.GetLatestReadyRevision() != want ||
		got.GetTerminalCondition().GetState() != runpb.Condition_CONDITION_SUCCEEDED || got.GetObservedGeneration() != got.GetGeneration() {
		t.Errorf("after adopting web-good: created %q, ready %q, terminal %v, generation %d/%d; want web-good reconciled",
			got.GetLatestCreatedRevision(), got.GetLatestReadyRevision(), got.GetTerminalCondition(), got.GetObservedGeneration(), got.GetGeneration())
	}

	again := withRevision(withImage(got, "img:bad"), "web-bad")
	if _, err := e.update(t, &runpb.UpdateServiceRequest{Service: again}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("adopting the failed revision by name: %v, want FailedPrecondition", err)
	}
}
