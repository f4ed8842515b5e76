package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// Tests of issue 15's library points: racing releases, audit, retried
// releases of rolled-back tags, rollbacks, phases, long service names.

// TestRacingReleasesOneWins: a release that read prod before another
// release landed loses with ErrConflict naming the winner, and the winner's
// preview URL reaches the winner's revision. On the old code both
// reported success and the winner's preview URL reached the loser's
// revision.
func TestRacingReleasesOneWins(t *testing.T) {
	t.Parallel()
	var (
		w     *world
		other pipeline.ReleaseResult
		oerr  error
	)
	hook := fake.WithServiceFuncs(fake.ServiceFuncs{
		Deploy: func(ctx context.Context, n int, next fake.ServiceBackend, r stage.Release) (stage.Revision, error) {
			if r.Traffic == stage.RouteNone && strings.HasPrefix(r.Revision, "v1-4-2") {
				// v1.4.3 runs between v1.4.2's read and its write.
				other, oerr = w.p.Release(ctx, pipeline.ReleaseInput{Tag: "v1.4.3", SHA: sha1})
			}
			return next.Deploy(ctx, r)
		},
	})
	w = newWorldWith(t, hook)
	w.dev1(t, sha1)
	_, err := w.p.Release(context.Background(), pipeline.ReleaseInput{Tag: "v1.4.2", SHA: sha1})
	if oerr != nil {
		t.Fatalf("the racing Release(v1.4.3): %v", oerr)
	}
	if !errors.Is(err, twostage.ErrConflict) || !strings.Contains(err.Error(), other.Revision.Name) {
		t.Fatalf("Release(v1.4.2) after v1.4.3 landed: %v, want ErrConflict naming %s", err, other.Revision.Name)
	}
	sp, err := w.prod.Split(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rev, _ := traffic.TagOf(sp, traffic.TagCandidate); rev != other.Revision.Name {
		t.Errorf("candidate tag on %s, want the winner %s", rev, other.Revision.Name)
	}
	if got := w.prod.Snapshot().Revisions; len(got) != 2 {
		t.Errorf("prod has %d revisions, want the placeholder and the winner's only", len(got))
	}
}

// TestReleaseRacingPromotionLoses: a release that read prod before a
// promotion's first step loses with ErrConflict naming the rollout. On the
// old code it deployed and moved the candidate tag off the revision being
// rolled out.
func TestReleaseRacingPromotionLoses(t *testing.T) {
	t.Parallel()
	var (
		w    *world
		perr error
	)
	hook := fake.WithServiceFuncs(fake.ServiceFuncs{
		Deploy: func(ctx context.Context, n int, next fake.ServiceBackend, r stage.Release) (stage.Revision, error) {
			if r.Traffic == stage.RouteNone && strings.HasPrefix(r.Revision, "v2-0-0") {
				// The promotion of v1.0.0 writes its first step (and
				// pauses: its gate never decides) between v2.0.0's read
				// and its write.
				_, perr = w.p.Promote(ctx, pipeline.PromoteInput{})
			}
			return next.Deploy(ctx, r)
		},
	})
	undecided := traffic.GateFunc(func(context.Context, traffic.Check) (traffic.Verdict, error) {
		return traffic.Verdict{Gate: "slow", Outcome: traffic.Inconclusive}, nil
	})
	w = newWorldWith(t, hook, pipeline.WithGates(undecided))
	w.dev1(t, sha1)
	w.dev1(t, sha2)
	first := w.release(t, "v1.0.0", sha1)
	_, err := w.p.Release(context.Background(), pipeline.ReleaseInput{Tag: "v2.0.0", SHA: sha2})
	if !errors.Is(perr, traffic.ErrPaused) {
		t.Fatalf("the racing Promote: %v, want it paused at step 1", perr)
	}
	if !errors.Is(err, twostage.ErrConflict) || !strings.Contains(err.Error(), "rollout of "+first.Revision.Name) {
		t.Fatalf("Release(v2.0.0) during the rollout of v1.0.0: %v, want ErrConflict naming the rollout of %s", err, first.Revision.Name)
	}
	sp, err := w.prod.Split(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rev, _ := traffic.TagOf(sp, traffic.TagCandidate); rev != first.Revision.Name {
		t.Errorf("candidate tag on %s, want it still on %s", rev, first.Revision.Name)
	}
}

// TestReleaseOfRolledBackTagRefused: releasing again a tag whose rollout
// was rolled back is refused with ErrPolicy and Promote's own words, and
// audited as refused. On the old code it reported "deployed".
func TestReleaseOfRolledBackTagRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pipeline.WithGates(failAt(1)))
	w.dev1(t, sha1)
	w.release(t, "v1.0.0", sha1)
	_, perr := w.p.Promote(context.Background(), pipeline.PromoteInput{})
	if !errors.Is(perr, traffic.ErrRolledBack) {
		t.Fatalf("Promote: %v, want a rollback", perr)
	}
	_, err := w.p.Release(context.Background(), pipeline.ReleaseInput{Tag: "v1.0.0", SHA: sha1})
	if !errors.Is(err, twostage.ErrPolicy) || !strings.Contains(err.Error(), "it is not restarted, release a new revision") {
		t.Fatalf("Release(v1.0.0) again after its rollback: %v, want ErrPolicy saying it is not restarted", err)
	}
	_, again := w.p.Promote(context.Background(), pipeline.PromoteInput{Revision: "api-prod-v1-0-0-1111111"})
	if !errors.Is(again, twostage.ErrPolicy) {
		t.Errorf("Promote after the refused release: %v, want the same refusal (ErrPolicy)", again)
	}
	events := w.log.Events()
	if last := events[len(events)-1]; last.Action != pipeline.ActionRefused || last.Decision != "refused" {
		t.Errorf("last audit event %+v, want the refusal", last)
	}
	// Another tag on the same commit is a new revision and may go.
	w.release(t, "v1.0.1", sha1)
}

// TestAuditTiesTrafficToArtifact: every event of a dev deploy, a release,
// a promotion that rolls back and a person's rollback names the revision,
// its commit, digest and ref, and the traffic before and after; rollout
// events also name the stable revision and its digest. On the old code the
// promote.*, rollback events had no SHA, digest or ref, and dev.deploy no
// Before.
func TestAuditTiesTrafficToArtifact(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pipeline.WithGates(failAt(2)))
	w.dev1(t, sha1)
	d2 := w.dev1(t, sha2)
	rel := w.release(t, "v2.0.0", sha2)
	if _, err := w.p.Promote(context.Background(), pipeline.PromoteInput{}); !errors.Is(err, traffic.ErrRolledBack) {
		t.Fatalf("Promote: %v, want a rollback at step 2", err)
	}
	events := w.log.Events()
	for i, e := range events {
		if e.Revision == "" || e.SHA == "" || e.Digest == "" || e.Ref == "" {
			t.Errorf("event %d %s %s: revision %q sha %q digest %q ref %q; want all set", i, e.Action, e.Decision, e.Revision, e.SHA, e.Digest, e.Ref)
		}
		if i > 0 && (e.Before == "" || e.After == "") { // the first dev deploy created the service
			t.Errorf("event %d %s %s: before %q after %q; want both", i, e.Action, e.Decision, e.Before, e.After)
		}
		if e.Stage == "prod" && e.Action != pipeline.ActionRelease && (e.Stable == "" || e.StableDigest == "") {
			t.Errorf("event %d %s %s: stable %q digest %q; want the stable revision and its image", i, e.Action, e.Decision, e.Stable, e.StableDigest)
		}
	}
	var rollback pipeline.AuditEvent
	for _, e := range events {
		if e.Action == pipeline.ActionRollback {
			rollback = e
		}
	}
	if rollback.Revision != rel.Revision.Name || rollback.Digest != d2.Artifact.Digest || !strings.Contains(rollback.After, rollback.Stable+"=100%") {
		t.Errorf("rollback event %+v: want the candidate %s with digest %s and the After split serving %s", rollback, rel.Revision.Name, d2.Artifact.Digest, rollback.Stable)
	}
	if dev := events[1]; !strings.Contains(dev.Before, "api-dev-1111111=100%") {
		t.Errorf("second dev deploy Before %q, want the revision that served (api-dev-1111111=100%%)", dev.Before)
	}
}

// TestAuditSaysWhatHappened: a dev retry of the same commit is "adopted"
// (nothing pushed or created), and a person's rollback that finds nothing
// to undo is recorded as "unchanged". On the old code the retry was
// "deployed" and the rollback recorded no event.
func TestAuditSaysWhatHappened(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pipeline.WithGates(failAt(1)))
	w.dev1(t, sha1)
	w.dev1(t, sha1)
	var decisions []string
	for _, e := range w.log.Events() {
		decisions = append(decisions, e.Decision)
	}
	if len(decisions) != 2 || decisions[0] != "deployed" || decisions[1] != "adopted" {
		t.Errorf("dev decisions %q, want [deployed adopted]", decisions)
	}
	w.release(t, "v1.0.0", sha1)
	if _, err := w.p.Promote(context.Background(), pipeline.PromoteInput{}); !errors.Is(err, traffic.ErrRolledBack) {
		t.Fatalf("Promote: %v", err)
	}
	n := len(w.log.Events())
	writes := countWrites(w.prod)
	if _, err := w.p.Rollback(context.Background(), pipeline.RollbackInput{Reason: "again", Actor: "ops"}); err != nil {
		t.Fatal(err)
	}
	if got := countWrites(w.prod) - writes; got != 0 {
		t.Errorf("a rollback with nothing to undo made %d writes", got)
	}
	events := w.log.Events()[n:]
	if len(events) != 1 || events[0].Action != pipeline.ActionRollback || events[0].Decision != "unchanged" || events[0].Actor != "ops" || events[0].Before != events[0].After {
		t.Fatalf("events of the second rollback %+v, want one rollback event, unchanged, by ops", events)
	}
}

// TestLongServiceNames: on a 45-character prod service two release
// candidates of one commit (v1.4.2-rc.1, v1.4.2-rc.2) are two revisions,
// named as stage/cloudrun names them, and a pipeline with a pre-traffic
// HTTPCheck is refused at New, since no release there can have a preview
// URL. On the old code the fake refused the second release's name as too
// long (or, shortened, both tags shared one revision) and New accepted the
// check that every release would then fail.
func TestLongServiceNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := fake.NewClock(time.Time{})
	reg := fake.NewRegistry(fake.WithClock(clock))
	dev := fake.NewService("api-dev", fake.WithClock(clock))
	long := strings.Repeat("p", 45)
	prod := fake.NewService(long, fake.WithClock(clock))
	placeholder, err := reg.Push(ctx, repo+":placeholder", fake.NewImage("placeholder"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prod.Deploy(ctx, stage.Release{Artifact: placeholder, Revision: "placeholder", Traffic: stage.RouteAll}); err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.New(reg, repo, dev, prod, pipeline.WithVerifiers(pipeline.HTTPCheck{})); !errors.Is(err, twostage.ErrInvalid) || !strings.Contains(err.Error(), "no room for the \"candidate\" tag") {
		t.Errorf("New with an HTTPCheck on a %d-character prod service: %v, want ErrInvalid saying the candidate tag does not fit", len(long), err)
	}
	p, err := pipeline.New(reg, repo, dev, prod, pipeline.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Dev(ctx, pipeline.DevInput{SHA: sha1, Branch: "main", Image: fake.NewImage(sha1)}); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tag := range []string{"v1.4.2-rc.1", "v1.4.2-rc.2"} {
		res, err := p.Release(ctx, pipeline.ReleaseInput{Tag: tag, SHA: sha1})
		if err != nil {
			t.Fatalf("Release(%s) on a %d-character service: %v", tag, len(long), err)
		}
		suffix, _ := stage.ReleaseSuffix(tag, sha1)
		want, _ := stage.RevisionName(long, suffix)
		if res.Revision.Name != want {
			t.Errorf("Release(%s) = revision %q, want %q (stage.RevisionName)", tag, res.Revision.Name, want)
		}
		names[res.Revision.Name] = true
	}
	if len(names) != 2 {
		t.Errorf("two tags gave revisions %v, want two", names)
	}
}

// TestRollbackPointsTheTemplateBack: a rollback also points prod's
// template back at the stable revision, in the same single write, so the
// template no longer runs the rolled-back image; and Drift flags a
// template left running an image that no serving revision runs (here, a
// rollback written by another tool, without Split.Template). On the old
// code the template kept the bad release's image and Drift said nothing.
func TestRollbackPointsTheTemplateBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, pipeline.WithGates(failAt(1)))
	w.dev1(t, sha1)
	w.release(t, "v1.0.0", sha1)
	writes := countWrites(w.prod)
	if _, err := w.p.Promote(ctx, pipeline.PromoteInput{}); !errors.Is(err, traffic.ErrRolledBack) {
		t.Fatalf("Promote: %v, want a rollback", err)
	}
	if got := countWrites(w.prod) - writes; got != 2 {
		t.Errorf("step 1 and the rollback made %d writes, want 2 (the template moves in the rollback's write)", got)
	}
	d, err := w.prod.Drift(ctx, stage.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range d {
		if item.Field == "image" {
			t.Errorf("after the rollback: drift %s, want the template back on the stable revision's image", item)
		}
	}
	st, err := w.p.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(st.String(), "drift image") {
		t.Errorf("status after the rollback shows image drift:\n%s", st)
	}

	// Another tool rolls the next release back without moving the template.
	w.dev1(t, sha2)
	rel := w.release(t, "v2.0.0", sha2)
	sp, err := w.prod.Split(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stable := sp.LatestRevision
	for rev, pct := range traffic.Serving(sp) {
		if pct == 100 {
			stable = rev
		}
	}
	state := traffic.RolloutState{Candidate: rel.Revision.Name, Stable: stable, Phase: traffic.RolledBack, Step: 1, Percents: []int{5, 25, 100}}
	sp.State = state.Encode()
	if _, err := w.prod.SetSplit(ctx, sp); err != nil {
		t.Fatal(err)
	}
	st, err = w.p.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.String(), "drift image: live "+rel.Artifact.Digest) {
		t.Errorf("status with the template on a rolled-back release: want an image drift line naming %s:\n%s", rel.Artifact.Digest, st)
	}
}
