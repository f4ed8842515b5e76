package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

const sha3 = "3333333ccccccccccccccccccccccccccccccccc"

// TestPrune: a dry run selects the revisions that serve nothing and hold
// no tag beyond the newest Keep, never the stable, prior, candidate or
// latest one; Apply deletes exactly those, oldest first, records one audit
// event per stage, and a re-run finds nothing left (issue 15, item 11;
// before, the library had no prune).
func TestPrune(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	for _, sha := range []string{sha1, sha2, sha3} {
		w.dev1(t, sha)
	}
	w.release(t, "v1.0.0", sha1)
	if _, err := w.p.Promote(ctx, pipeline.PromoteInput{}); err != nil {
		t.Fatal(err)
	}
	w.release(t, "v1.1.0", sha2)
	if _, err := w.p.Promote(ctx, pipeline.PromoteInput{}); err != nil {
		t.Fatal(err)
	}
	cand := w.release(t, "v1.2.0", sha3) // released, not promoted
	// prod: placeholder (no tag now), v1-0-0 (prior), v1-1-0 (stable,
	// 100%), v1-2-0 (candidate, latest).
	dry, err := w.p.Prune(ctx, pipeline.PruneInput{Keep: 0})
	if err != nil {
		t.Fatal(err)
	}
	want := []pipeline.Pruned{
		{Stage: "dev", Kept: []string{"api-dev-3333333"}, Delete: []string{"api-dev-2222222", "api-dev-1111111"}},
		{Stage: "prod", Kept: []string{cand.Revision.Name, "api-prod-v1-1-0-2222222", "api-prod-v1-0-0-1111111"}, Delete: []string{"api-prod-placeholder"}},
	}
	if diff := cmp.Diff(want, dry.Stages); diff != "" {
		t.Fatalf("dry run (-want +got):\n%s", diff)
	}
	if n := len(w.dev.Snapshot().Revisions) + len(w.prod.Snapshot().Revisions); n != 7 {
		t.Errorf("a dry run left %d revisions, want all 7", n)
	}
	before := len(w.log.Events())
	kept, err := w.p.Prune(ctx, pipeline.PruneInput{Keep: 1, Stage: "dev"})
	if err != nil || len(kept.Stages) != 1 || !cmp.Equal(kept.Stages[0].Delete, []string{"api-dev-1111111"}) {
		t.Errorf("Prune(Keep 1, dev) = %+v, %v; want only api-dev-1111111 selected", kept, err)
	}
	applied, err := w.p.Prune(ctx, pipeline.PruneInput{Keep: 0, Apply: true, Actor: "octocat"})
	if err != nil {
		t.Fatal(err)
	}
	want[0].Deleted = []string{"api-dev-1111111", "api-dev-2222222"}
	want[1].Deleted = []string{"api-prod-placeholder"}
	if diff := cmp.Diff(want, applied.Stages); diff != "" {
		t.Errorf("apply (-want +got):\n%s", diff)
	}
	if got := names(w.prod.Snapshot().Revisions); !cmp.Equal(got, want[1].Kept) {
		t.Errorf("prod revisions after prune = %q, want %q", got, want[1].Kept)
	}
	if sp := w.prod.Snapshot().Split; traffic.Serving(sp)["api-prod-v1-1-0-2222222"] != 100 {
		t.Errorf("prune moved traffic: %s", sp)
	}
	events := w.log.Events()[before:]
	if len(events) != 2 || events[0].Action != pipeline.ActionPrune || events[0].Decision != "deleted" || events[0].Actor != "octocat" || events[1].Stage != "prod" {
		t.Errorf("audit after apply = %+v, want one prune event per stage", events)
	}
	again, err := w.p.Prune(ctx, pipeline.PruneInput{Apply: true})
	if err != nil || len(again.Stages[0].Delete)+len(again.Stages[1].Delete) != 0 {
		t.Errorf("re-run = %+v, %v; want nothing to delete", again, err)
	}
	if e := w.log.Events(); e[len(e)-1].Decision != "unchanged" {
		t.Errorf("re-run recorded %q, want unchanged", e[len(e)-1].Decision)
	}
	for _, bad := range []pipeline.PruneInput{{Keep: -1}, {Stage: "staging"}} {
		if _, err := w.p.Prune(ctx, bad); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("Prune(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestPruneKeepsWhatStartedServing: a revision that takes traffic between
// the selection and its deletion is refused by the service and reported as
// skipped, never deleted.
func TestPruneKeepsWhatStartedServing(t *testing.T) {
	t.Parallel()
	var w *world
	hook := fake.WithServiceFuncs(fake.ServiceFuncs{
		Revisions: func(ctx context.Context, n int, next fake.ServiceBackend) iter.Seq2[stage.Revision, error] {
			if n == 1 {
				// Someone routes 10% back to the placeholder after Prune
				// read the split.
				sp, err := next.Split(ctx)
				if err == nil {
					sp.Targets = []traffic.Target{{Revision: "api-prod-placeholder", Percent: 10}, {Revision: sp.LatestRevision, Percent: 90}}
					_, err = next.SetSplit(ctx, sp)
				}
				if err != nil {
					t.Error(err)
				}
			}
			return next.Revisions(ctx)
		},
	})
	w = newWorldWith(t, hook)
	for i, sha := range []string{sha1, sha2} {
		w.dev1(t, sha)
		w.release(t, fmt.Sprintf("v1.%d.0", i), sha)
		if _, err := w.p.Promote(context.Background(), pipeline.PromoteInput{}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := w.p.Prune(context.Background(), pipeline.PruneInput{Apply: true, Stage: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if pr := res.Stages[0]; !cmp.Equal(pr.Skipped, []string{"api-prod-placeholder"}) || len(pr.Deleted) != 0 {
		t.Errorf("Prune = %+v; want the placeholder skipped, nothing deleted", pr)
	}
	if len(w.prod.Snapshot().Revisions) != 3 {
		t.Errorf("a serving revision was deleted")
	}
}

func names(revs []stage.Revision) []string {
	var out []string
	for _, r := range revs {
		out = append(out, r.Name)
	}
	return out
}
