package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

const (
	repo = "europe-west1-docker.pkg.dev/acme/apps/api"
	sha1 = "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	sha2 = "2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

type world struct {
	clock     *fake.Clock
	reg       *fake.Registry
	dev, prod *fake.Service
	log       *pipeline.EventLog
	p         *pipeline.Pipeline
}

// newWorld returns a pipeline over fakes whose prod service already serves a
// placeholder revision (as a service created by Terraform would).
func newWorld(t *testing.T, opts ...pipeline.Option) *world {
	t.Helper()
	return newWorldWith(t, nil, opts...)
}

// newWorldWith is newWorld with an extra option for the prod service.
func newWorldWith(t *testing.T, prodOpt fake.ServiceOption, opts ...pipeline.Option) *world {
	t.Helper()
	w := &world{clock: fake.NewClock(time.Time{}), log: &pipeline.EventLog{}}
	w.reg = fake.NewRegistry(fake.WithClock(w.clock))
	w.dev = fake.NewService("api-dev", fake.WithClock(w.clock))
	prodOpts := []fake.ServiceOption{fake.WithClock(w.clock)}
	if prodOpt != nil {
		prodOpts = append(prodOpts, prodOpt)
	}
	w.prod = fake.NewService("api-prod", prodOpts...)
	placeholder, err := w.reg.Push(context.Background(), repo+":placeholder", fake.NewImage("placeholder"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.prod.Deploy(context.Background(), stage.Release{Artifact: placeholder, Revision: "placeholder", Traffic: stage.RouteAll}); err != nil {
		t.Fatal(err)
	}
	opts = append([]pipeline.Option{pipeline.WithClock(w.clock), pipeline.WithAudit(w.log)}, opts...)
	w.p, err = pipeline.New(w.reg, repo, w.dev, w.prod, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) dev1(t *testing.T, sha string) pipeline.DevResult {
	t.Helper()
	res, err := w.p.Dev(context.Background(), pipeline.DevInput{SHA: sha, Branch: "main", Image: fake.NewImage(sha)})
	if err != nil {
		t.Fatalf("Dev(%s): %v", sha, err)
	}
	return res
}

func (w *world) release(t *testing.T, tag, sha string) pipeline.ReleaseResult {
	t.Helper()
	res, err := w.p.Release(context.Background(), pipeline.ReleaseInput{Tag: tag, SHA: sha})
	if err != nil {
		t.Fatalf("Release(%s): %v", tag, err)
	}
	return res
}

func shares(t *testing.T, r traffic.Router) map[string]int {
	t.Helper()
	sp, err := r.Split(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return traffic.Serving(sp)
}

func TestDevTwiceSameSHAOneRevision(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	first := w.dev1(t, sha1)
	second := w.dev1(t, sha1)
	if !first.Pushed || second.Pushed {
		t.Errorf("Pushed = %v then %v, want true then false", first.Pushed, second.Pushed)
	}
	if first.Revision.Name != "api-dev-1111111" || second.Revision.Name != first.Revision.Name {
		t.Errorf("revisions %q then %q, want api-dev-1111111 twice", first.Revision.Name, second.Revision.Name)
	}
	if n := len(w.dev.Snapshot().Revisions); n != 1 {
		t.Errorf("dev has %d revisions, want 1", n)
	}
	if diff := cmp.Diff(map[string]int{"api-dev-1111111": 100}, shares(t, w.dev)); diff != "" {
		t.Errorf("dev shares mismatch (-want +got):\n%s", diff)
	}
	if got := first.Revision.Labels[stage.LabelCommit]; got != sha1 {
		t.Errorf("commit label = %q, want %q", got, sha1)
	}
}

func TestDevPolicies(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	_, err := w.p.Dev(context.Background(), pipeline.DevInput{SHA: sha1, Branch: "feature/x", Image: fake.NewImage("x")})
	if !errors.Is(err, twostage.ErrPolicy) || !strings.Contains(err.Error(), `"feature/x"`) {
		t.Errorf("Dev from feature/x: err = %v, want ErrPolicy naming the branch", err)
	}
	w.dev1(t, sha1)
	_, err = w.p.Dev(context.Background(), pipeline.DevInput{SHA: sha1, Branch: "main", Image: fake.NewImage("rebuilt")})
	if !errors.Is(err, twostage.ErrPolicy) || !strings.Contains(err.Error(), "built once") {
		t.Errorf("Dev with a rebuilt image: err = %v, want ErrPolicy about building once", err)
	}
	_, err = w.p.Dev(context.Background(), pipeline.DevInput{SHA: sha2, Branch: "refs/heads/main"})
	if !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("Dev of an unpushed commit without an image: err = %v, want ErrNotFound", err)
	}
	_, err = w.p.Dev(context.Background(), pipeline.DevInput{SHA: "xyz", Branch: "main", Image: fake.NewImage("x")})
	if !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("Dev with a bad SHA: err = %v, want ErrInvalid", err)
	}
	refused := 0
	for _, e := range w.log.Events() {
		if e.Action == pipeline.ActionRefused {
			refused++
		}
	}
	if refused != 2 {
		t.Errorf("%d refusals audited, want 2", refused)
	}
}

func TestReleaseKeepsServingSplit(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.dev1(t, sha1)
	before := shares(t, w.prod)
	res := w.release(t, "v1.4.2", sha1)
	if res.Revision.Name != "api-prod-v1-4-2-1111111" {
		t.Errorf("revision %q, want api-prod-v1-4-2-1111111", res.Revision.Name)
	}
	if diff := cmp.Diff(before, shares(t, w.prod)); diff != "" {
		t.Errorf("prod serving split changed (-before +after):\n%s", diff)
	}
	if rev, ok := traffic.TagOf(res.After, traffic.TagCandidate); !ok || rev != res.Revision.Name {
		t.Errorf("candidate tag on %q (%v), want %q", rev, ok, res.Revision.Name)
	}
	if res.PreviewURL == "" || !strings.HasPrefix(res.PreviewURL, "https://candidate---") {
		t.Errorf("PreviewURL = %q, want the candidate tag URL", res.PreviewURL)
	}
	devRes := w.dev1(t, sha1)
	if res.Artifact != devRes.Artifact {
		t.Errorf("prod runs %v, dev ran %v", res.Artifact, devRes.Artifact)
	}
	// Releasing again is safe: same revision, same serving split.
	again := w.release(t, "v1.4.2", sha1)
	if again.Revision.Name != res.Revision.Name || len(w.prod.Snapshot().Revisions) != 2 {
		t.Errorf("re-release made %q, %d revisions; want the same revision, 2 in all", again.Revision.Name, len(w.prod.Snapshot().Revisions))
	}
}

func TestReleaseLongNames(t *testing.T) {
	t.Parallel()
	name := "a-very-long-service-name-for-prod-xxxxxxxxxxxx" // 46 characters
	clk := fake.NewClock(time.Time{})
	reg := fake.NewRegistry()
	dev := fake.NewService("api-dev", fake.WithClock(clk))
	prod := fake.NewService(name[:45], fake.WithClock(clk))
	a, _ := reg.Push(context.Background(), repo+":placeholder", fake.NewImage("p"))
	if _, err := prod.Deploy(context.Background(), stage.Release{Artifact: a, Revision: "p", Traffic: stage.RouteAll}); err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.New(reg, repo, dev, prod, pipeline.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	sha := "0123456789abcdef0123456789abcdef01234567"
	if _, err := p.Dev(context.Background(), pipeline.DevInput{SHA: sha, Branch: "main", Image: fake.NewImage(sha)}); err != nil {
		t.Fatal(err)
	}
	res, err := p.Release(context.Background(), pipeline.ReleaseInput{Tag: "v1.4.2", SHA: sha})
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Revision.Name; len(n) > 63 || stage.ValidateRevisionName(n) != nil || !strings.HasSuffix(n, "-0123456") {
		t.Errorf("revision name %q (%d chars) is not a valid ≤63-char name ending in the short SHA", n, len(n))
	}
	if res.PreviewURL != "" {
		t.Errorf("PreviewURL = %q on a service with no room for a tag", res.PreviewURL)
	}
	// The rollout finds the candidate without the tag and skips the tags.
	if _, err := p.Promote(context.Background(), pipeline.PromoteInput{}); err != nil {
		t.Fatalf("Promote: %v", err)
	}
	sp, _ := prod.Split(context.Background())
	if got := traffic.Shares(sp)[res.Revision.Name]; got != 100 {
		t.Errorf("after Promote the release serves %d%% (%s), want 100", got, sp)
	}
}

func TestReleaseRefusesOtherDigest(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dev := w.dev1(t, sha1)
	// Someone re-pushes the commit tag with a rebuilt image.
	rebuilt, err := w.reg.Push(context.Background(), repo+":"+sha1, fake.NewImage("rebuilt"))
	if err != nil {
		t.Fatal(err)
	}
	before := w.prod.Snapshot()
	_, err = w.p.Release(context.Background(), pipeline.ReleaseInput{Tag: "v1.0.0", SHA: sha1})
	if !errors.Is(err, twostage.ErrPolicy) {
		t.Fatalf("err = %v, want ErrPolicy", err)
	}
	for _, d := range []string{dev.Artifact.Digest, rebuilt.Digest} {
		if !strings.Contains(err.Error(), d) {
			t.Errorf("error %q does not name digest %s", err, d)
		}
	}
	if diff := cmp.Diff(before, w.prod.Snapshot()); diff != "" {
		t.Errorf("prod changed on a refused release (-want +got):\n%s", diff)
	}
}

func TestReleasePolicies(t *testing.T) {
	t.Parallel()
	verifier := pipeline.TagVerifierFunc(func(_ context.Context, tag string) error {
		if tag == "v1.0.0" {
			return nil
		}
		return fmt.Errorf("no signature on %s", tag)
	})
	w := newWorld(t, pipeline.WithSignedTags(verifier))
	w.dev1(t, sha1)
	for _, tc := range []struct {
		tag, sha string
		want     error
		mention  string
	}{
		{"release-1", sha1, twostage.ErrPolicy, "release pattern"},
		{"v1.0", sha1, twostage.ErrPolicy, "release pattern"},
		{"v1.0.1", sha1, twostage.ErrPolicy, "no signature"},
		{"v1.0.0", sha2, twostage.ErrNotFound, sha2}, // no image for the commit: Await times out
	} {
		_, err := w.p.Release(context.Background(), pipeline.ReleaseInput{Tag: tc.tag, SHA: tc.sha})
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("Release(%s, %s): err = %v, want %v mentioning %q", tc.tag, tc.sha[:7], err, tc.want, tc.mention)
		}
	}
	// An image pushed for a commit that never ran in dev.
	if _, err := w.reg.Push(context.Background(), repo+":"+sha2, fake.NewImage(sha2)); err != nil {
		t.Fatal(err)
	}
	_, err := w.p.Release(context.Background(), pipeline.ReleaseInput{Tag: "v1.0.0", SHA: sha2})
	if !errors.Is(err, twostage.ErrPolicy) || !strings.Contains(err.Error(), "never ran in dev") {
		t.Errorf("release of a commit that skipped dev: err = %v, want ErrPolicy 'never ran in dev'", err)
	}
	if _, err := w.p.Release(context.Background(), pipeline.ReleaseInput{Tag: "v1.0.0", SHA: sha1}); err != nil {
		t.Errorf("signed release: %v", err)
	}
}

func TestReleaseWaitsForImage(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.dev1(t, sha1)
	// The release workflow starts before the image is visible: it appears 3.3s in.
	if !w.reg.Untag(repo + ":" + sha1) {
		t.Fatal("Untag found nothing")
	}
	digest := w.dev.Snapshot().Revisions[0].Artifact.Digest
	start := w.clock.Now()
	w.clock.At(start.Add(3300*time.Millisecond), func(time.Time) { w.reg.Seed(repo+":"+sha1, digest) })
	if _, err := w.p.Release(context.Background(), pipeline.ReleaseInput{Tag: "v1.0.0", SHA: sha1}); err != nil {
		t.Fatal(err)
	}
	if waited := w.clock.Now().Sub(start); waited < 3300*time.Millisecond || waited > 4300*time.Millisecond {
		t.Errorf("release noticed the image after %v, want within 1s of 3.3s", waited)
	}
}

func TestNewRefusesUnsafePlan(t *testing.T) {
	t.Parallel()
	_, err := pipeline.New(fake.NewRegistry(), repo, fake.NewService("a"), fake.NewService("b"),
		pipeline.WithPlan(traffic.Plan{Steps: []traffic.Step{{Percent: 10}, {Percent: 100}}}))
	if !errors.Is(err, twostage.ErrInvalid) || !strings.Contains(err.Error(), "first step must route at most 5%") {
		t.Errorf("err = %v, want ErrInvalid explaining the first-step rule", err)
	}
}

// failAt returns a gate that passes every step but step, where it fails
// with numbers.
func failAt(step int) traffic.Gate {
	return traffic.GateFunc(func(_ context.Context, c traffic.Check) (traffic.Verdict, error) {
		if c.Step == step {
			return traffic.Verdict{Gate: "errors", Outcome: traffic.Fail, Reason: "error rate 4.0% > 1.0%", Numbers: map[string]float64{"requests": 500, "errors": 20}}, nil
		}
		return traffic.Verdict{Gate: "errors", Outcome: traffic.Pass, Reason: "ok"}, nil
	})
}

func TestPromoteSucceeds(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.dev1(t, sha1)
	stable := w.prod.Snapshot().Split.LatestRevision
	rel := w.release(t, "v1.0.0", sha1)
	res, err := w.p.Promote(context.Background(), pipeline.PromoteInput{})
	if err != nil {
		t.Fatal(err)
	}
	if res.State.Phase != traffic.Succeeded {
		t.Errorf("phase %s, want Succeeded", res.State.Phase)
	}
	if diff := cmp.Diff(map[string]int{rel.Revision.Name: 100}, shares(t, w.prod)); diff != "" {
		t.Errorf("prod shares (-want +got):\n%s", diff)
	}
	sp, _ := w.prod.Split(context.Background())
	for tag, want := range map[string]string{traffic.TagStable: rel.Revision.Name, traffic.TagPrior: stable} {
		if got, _ := traffic.TagOf(sp, tag); got != want {
			t.Errorf("tag %s on %q, want %q", tag, got, want)
		}
	}
	if _, ok := traffic.TagOf(sp, traffic.TagCandidate); ok {
		t.Errorf("candidate tag still present after success: %s", sp)
	}
	var steps []int
	for _, e := range w.log.Events() {
		if e.Action == pipeline.ActionStep {
			steps = append(steps, e.Percent)
		}
	}
	if diff := cmp.Diff([]int{5, 25, 100}, steps); diff != "" {
		t.Errorf("audited steps (-want +got):\n%s", diff)
	}
	// The default plan bakes 5 minutes at 5% and 25%.
	if slept := w.clock.Slept(); slept < 10*time.Minute {
		t.Errorf("slept %v, want at least the two 5-minute bakes", slept)
	}
	// Promoting again is a no-op.
	calls := len(w.prod.Calls())
	if _, err := w.p.Promote(context.Background(), pipeline.PromoteInput{Revision: rel.Revision.Name}); err != nil {
		t.Errorf("second Promote: %v", err)
	}
	for _, c := range w.prod.Calls()[calls:] {
		if c.Method != "Split" {
			t.Errorf("second Promote made a %s call", c.Method)
		}
	}
}

func TestPromoteGateFailsAtStep2(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pipeline.WithGates(failAt(2)))
	w.dev1(t, sha1)
	stable := w.prod.Snapshot().Split.LatestRevision
	rel := w.release(t, "v1.0.0", sha1)
	_, err := w.p.Promote(context.Background(), pipeline.PromoteInput{})
	var re *traffic.RolloutError
	if !errors.Is(err, traffic.ErrRolledBack) || !errors.As(err, &re) || re.Step != 2 || re.Percent != 25 {
		t.Fatalf("err = %v, want a rollback at step 2 (25%%)", err)
	}
	if diff := cmp.Diff(map[string]int{stable: 100}, shares(t, w.prod)); diff != "" {
		t.Errorf("prod shares after rollback (-want +got):\n%s", diff)
	}
	var rollback *pipeline.AuditEvent
	var gateFail *pipeline.AuditEvent
	for _, e := range w.log.Events() {
		switch {
		case e.Action == pipeline.ActionRollback:
			rollback = &e
		case e.Action == pipeline.ActionGate && e.Decision == "fail":
			gateFail = &e
		}
	}
	if rollback == nil || gateFail == nil {
		t.Fatalf("audit lacks the failed gate or the rollback: %+v", w.log.Events())
	}
	if rollback.Step != 2 || rollback.Revision != rel.Revision.Name || len(rollback.Verdicts) != 1 ||
		rollback.Verdicts[0].Gate != "errors" || rollback.Verdicts[0].Numbers["errors"] != 20 {
		t.Errorf("rollback event %+v does not say which gate, numbers and step", *rollback)
	}
	if !strings.Contains(rollback.Before, "25%") || !strings.Contains(rollback.After, stable+"=100%") {
		t.Errorf("rollback event before %q after %q, want 25%% before and %s=100%% after", rollback.Before, rollback.After, stable)
	}
	// A rolled-back candidate is not promoted again.
	if _, err := w.p.Promote(context.Background(), pipeline.PromoteInput{}); !errors.Is(err, twostage.ErrPolicy) {
		t.Errorf("Promote after rollback: err = %v, want ErrPolicy", err)
	}
}

func TestPromoteResumesAfterFault(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(time.Time{})
	// Every Promote writes with SetSplit; the 2nd write (step 2) fails once.
	prod := fake.NewService("api-prod", fake.WithClock(clk), fake.WithServiceFuncs(fake.ServiceFuncs{
		SetSplit: func(ctx context.Context, n int, next fake.ServiceBackend, s traffic.Split) (traffic.Split, error) {
			// Invariant on every write the rollout attempts: percents sum
			// to 100, tags are unique.
			if err := traffic.Validate(s, "api-prod"); err != nil {
				t.Errorf("write %d is invalid: %v", n, err)
			}
			if n == 2 {
				return traffic.Split{}, fmt.Errorf("injected: %w", twostage.ErrConflict)
			}
			return next.SetSplit(ctx, s)
		},
	}))
	reg := fake.NewRegistry()
	dev := fake.NewService("api-dev", fake.WithClock(clk))
	a, _ := reg.Push(context.Background(), repo+":placeholder", fake.NewImage("placeholder"))
	if _, err := prod.Deploy(context.Background(), stage.Release{Artifact: a, Revision: "placeholder", Traffic: stage.RouteAll}); err != nil {
		t.Fatal(err)
	}
	log := &pipeline.EventLog{}
	p, err := pipeline.New(reg, repo, dev, prod, pipeline.WithClock(clk), pipeline.WithAudit(log))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Dev(context.Background(), pipeline.DevInput{SHA: sha1, Branch: "main", Image: fake.NewImage(sha1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Release(context.Background(), pipeline.ReleaseInput{Tag: "v1.0.0", SHA: sha1}); err != nil {
		t.Fatal(err)
	}
	_, err = p.Promote(context.Background(), pipeline.PromoteInput{})
	if !errors.Is(err, twostage.ErrConflict) {
		t.Fatalf("first Promote: err = %v, want the injected conflict", err)
	}
	if st, _ := traffic.DecodeState(prod.Snapshot().Split.State); st.Step != 1 {
		t.Fatalf("after the fault the state is at step %d, want 1", st.Step)
	}
	if _, err := p.Promote(context.Background(), pipeline.PromoteInput{}); err != nil {
		t.Fatalf("second Promote: %v", err)
	}
	var applied []int
	for _, e := range log.Events() {
		if e.Action == pipeline.ActionStep && e.Decision != "resumed" {
			applied = append(applied, e.Percent)
		}
	}
	if diff := cmp.Diff([]int{5, 25, 100}, applied); diff != "" {
		t.Errorf("steps applied (-want +got):\n%s", diff)
	}
}

func TestRollbackAfterSuccess(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	stable := w.prod.Snapshot().Split.LatestRevision
	w.dev1(t, sha1)
	w.release(t, "v1.0.0", sha1)
	if _, err := w.p.Promote(context.Background(), pipeline.PromoteInput{}); err != nil {
		t.Fatal(err)
	}
	writes := countWrites(w.prod)
	res, err := w.p.Rollback(context.Background(), pipeline.RollbackInput{Reason: "customer reports"})
	if err != nil {
		t.Fatal(err)
	}
	if got := countWrites(w.prod) - writes; got != 1 {
		t.Errorf("rollback made %d writes, want 1", got)
	}
	if res.State.Phase != traffic.RolledBack {
		t.Errorf("phase %s, want RolledBack", res.State.Phase)
	}
	if diff := cmp.Diff(map[string]int{stable: 100}, shares(t, w.prod)); diff != "" {
		t.Errorf("prod shares after rollback (-want +got):\n%s", diff)
	}
}

func countWrites(s *fake.Service) int {
	n := 0
	for _, c := range s.Calls() {
		if c.Method == "SetSplit" || c.Method == "Deploy" {
			n++
		}
	}
	return n
}

func TestStatus(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.dev1(t, sha1)
	st, err := w.p.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Dev.Exists || !st.Prod.Exists || len(st.Dev.Revisions) != 1 {
		t.Fatalf("status %+v", st)
	}
	if got := st.String(); !strings.Contains(got, "api-dev-1111111") || !strings.Contains(got, "prod:") {
		t.Errorf("Status.String() = %q", got)
	}
}

func TestPromoteManual(t *testing.T) {
	t.Parallel()
	never := traffic.GateFunc(func(context.Context, traffic.Check) (traffic.Verdict, error) {
		return traffic.Verdict{Gate: "quiet", Outcome: traffic.Inconclusive, Reason: "no traffic yet"}, nil
	})
	plan := traffic.Plan{Steps: []traffic.Step{{Percent: 5, MaxWait: time.Minute}, {Percent: 50}, {Percent: 100}}}
	w := newWorld(t, pipeline.WithGates(never), pipeline.WithPlan(plan))
	w.dev1(t, sha1)
	rel := w.release(t, "v1.0.0", sha1)
	if _, err := w.p.Promote(context.Background(), pipeline.PromoteInput{}); !errors.Is(err, traffic.ErrPaused) {
		t.Fatalf("Promote with a quiet gate: err = %v, want ErrPaused", err)
	}
	if _, err := w.p.Promote(context.Background(), pipeline.PromoteInput{Manual: "sideways"}); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("bad Manual: err = %v, want ErrInvalid", err)
	}
	res, err := w.p.Promote(context.Background(), pipeline.PromoteInput{Manual: pipeline.ManualNext, Actor: "carol"})
	if err != nil || shares(t, w.prod)[rel.Revision.Name] != 50 {
		t.Fatalf("manual next: %v, shares %v", err, shares(t, w.prod))
	}
	res, err = w.p.Promote(context.Background(), pipeline.PromoteInput{Manual: pipeline.ManualFull, Actor: "carol"})
	if err != nil || res.State.Phase != traffic.Succeeded || shares(t, w.prod)[rel.Revision.Name] != 100 {
		t.Fatalf("manual full: %v %v, shares %v", res.State.Phase, err, shares(t, w.prod))
	}
	last := w.log.Events()[len(w.log.Events())-1]
	if last.Actor != "carol" || last.Decision != "succeeded" {
		t.Errorf("last audit event %+v, want carol's success", last)
	}
}

func TestOverridesAndDrift(t *testing.T) {
	t.Parallel()
	devOver := stage.Overrides{Env: map[string]string{"LOG_LEVEL": "debug"}}
	prodOver := stage.Overrides{Env: map[string]string{"LOG_LEVEL": "info"}, Secrets: map[string]stage.SecretRef{"DB_PASSWORD": {Secret: "db-password", Version: "3"}}}
	w := newWorld(t, pipeline.WithDevOverrides(devOver), pipeline.WithProdOverrides(prodOver))
	w.dev1(t, sha1)
	w.release(t, "v1.0.0", sha1)
	if got := w.dev.LiveSettings().Env["LOG_LEVEL"]; got != "debug" {
		t.Errorf("dev LOG_LEVEL = %q, want debug", got)
	}
	live := w.prod.LiveSettings()
	if live.Env["LOG_LEVEL"] != "info" || live.Secrets["DB_PASSWORD"] != (stage.SecretRef{Secret: "db-password", Version: "3"}) {
		t.Errorf("prod live settings %+v lack the prod overrides", live)
	}
	// Someone edits prod in the console.
	live.Env["LOG_LEVEL"] = "trace"
	w.prod.SetLiveSettings(live)
	st, err := w.p.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Dev.Drift) != 0 {
		t.Errorf("dev drift %v, want none", st.Dev.Drift)
	}
	want := stage.Drift{{Field: "env.LOG_LEVEL", Live: "trace", Declared: "info"}}
	if diff := cmp.Diff(want, st.Prod.Drift); diff != "" {
		t.Errorf("prod drift (-want +got):\n%s", diff)
	}
	if !strings.Contains(st.String(), "drift env.LOG_LEVEL: live trace, declared info") {
		t.Errorf("Status.String() does not show the drift:\n%s", st)
	}
	_, err = pipeline.New(w.reg, repo, w.dev, w.prod, pipeline.WithDevOverrides(stage.Overrides{Env: map[string]string{"1BAD": "x"}}))
	if !errors.Is(err, twostage.ErrInvalid) || !strings.Contains(err.Error(), "1BAD") {
		t.Errorf("bad overrides: err = %v, want ErrInvalid naming the variable", err)
	}
}

func TestReleaseReadsProdOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.dev1(t, sha1)
	prodBefore, devBefore := len(w.prod.Calls()), len(w.dev.Calls())
	res := w.release(t, "v1.0.0", sha1)
	count := func(calls []fake.Call) map[string]int {
		m := map[string]int{}
		for _, c := range calls {
			m[c.Method]++
		}
		return m
	}
	if diff := cmp.Diff(map[string]int{"Split": 1, "Deploy": 1}, count(w.prod.Calls()[prodBefore:])); diff != "" {
		t.Errorf("prod calls of a release (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"Revision": 1}, count(w.dev.Calls()[devBefore:])); diff != "" {
		t.Errorf("dev calls of a release (-want +got):\n%s", diff)
	}
	// The computed After is what the service reports.
	got, _ := w.prod.Split(context.Background())
	if !traffic.Equal(res.After, got) || res.After.LatestRevision != got.LatestRevision {
		t.Errorf("ReleaseResult.After = %s (latest %s), service reports %s (latest %s)", res.After, res.After.LatestRevision, got, got.LatestRevision)
	}
}

func TestFirstReleaseCreatesProd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := fake.NewClock(time.Time{})
	reg := fake.NewRegistry()
	dev := fake.NewService("api-dev", fake.WithClock(clock))
	prod := fake.NewService("api-prod", fake.WithClock(clock))
	var progress []registry.AwaitProgress
	p, err := pipeline.New(reg, repo, dev, prod, pipeline.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Dev(ctx, pipeline.DevInput{SHA: sha1, Branch: "main", Image: fake.NewImage(sha1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Release(ctx, pipeline.ReleaseInput{Tag: "v1.0.0", SHA: sha1}); !errors.Is(err, twostage.ErrNotFound) || !strings.Contains(err.Error(), "WithCreateProd") {
		t.Fatalf("release to a missing prod service: err = %v, want ErrNotFound pointing at WithCreateProd", err)
	}
	p, err = pipeline.New(reg, repo, dev, prod, pipeline.WithClock(clock), pipeline.WithCreateProd(),
		pipeline.WithAwaitProgress(func(ap registry.AwaitProgress) { progress = append(progress, ap) }))
	if err != nil {
		t.Fatal(err)
	}
	// Policies still apply to the first release.
	if _, err := p.Release(ctx, pipeline.ReleaseInput{Tag: "latest", SHA: sha1}); !errors.Is(err, twostage.ErrPolicy) {
		t.Errorf("first release of a bad tag: err = %v, want ErrPolicy", err)
	}
	// The image appears a moment late: progress is reported.
	reg.Untag(repo + ":" + sha1)
	digest := dev.Snapshot().Revisions[0].Artifact.Digest
	clock.At(clock.Now().Add(time.Second), func(time.Time) { reg.Seed(repo+":"+sha1, digest) })
	res, err := p.Release(ctx, pipeline.ReleaseInput{Tag: "v1.0.0", SHA: sha1})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.Revision.Name != "api-prod-v1-0-0-1111111" {
		t.Errorf("first release %+v, want Created with api-prod-v1-0-0-1111111", res)
	}
	if diff := cmp.Diff(map[string]int{res.Revision.Name: 100}, shares(t, prod)); diff != "" {
		t.Errorf("prod shares (-want +got):\n%s", diff)
	}
	sp, _ := prod.Split(ctx)
	if !traffic.Equal(res.After, sp) {
		t.Errorf("After = %s, service reports %s", res.After, sp)
	}
	if len(progress) == 0 || !errors.Is(progress[0].Err, twostage.ErrNotFound) {
		t.Errorf("await progress %+v, want reports of the missing image", progress)
	}
}

func TestRollbackAfterRollbackWritesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pipeline.WithGates(failAt(1)))
	w.dev1(t, sha1)
	w.release(t, "v1.0.0", sha1)
	if _, err := w.p.Promote(context.Background(), pipeline.PromoteInput{}); !errors.Is(err, traffic.ErrRolledBack) {
		t.Fatalf("Promote: %v", err)
	}
	writes := countWrites(w.prod)
	res, err := w.p.Rollback(context.Background(), pipeline.RollbackInput{Reason: "again"})
	if err != nil {
		t.Fatal(err)
	}
	if got := countWrites(w.prod) - writes; got != 0 {
		t.Errorf("second rollback made %d writes, want 0", got)
	}
	if !strings.Contains(res.State.Reason, "gate errors failed") {
		t.Errorf("reason %q was overwritten", res.State.Reason)
	}
}

func TestPromoteWithWatch(t *testing.T) {
	t.Parallel()
	pass := traffic.GateFunc(func(context.Context, traffic.Check) (traffic.Verdict, error) {
		return traffic.Verdict{Gate: "ok", Outcome: traffic.Pass}, nil
	})
	w := newWorld(t, pipeline.WithGates(pass), pipeline.WithRolloutOptions(traffic.WithWatch(10*time.Minute)))
	w.dev1(t, sha1)
	w.release(t, "v1.0.0", sha1)
	res, err := w.p.Promote(context.Background(), pipeline.PromoteInput{})
	if err != nil || res.State.Phase != traffic.Succeeded {
		t.Fatalf("Promote with a watch: %v, %v", res.State.Phase, err)
	}
	var decisions []string
	for _, e := range w.log.Events() {
		if e.Action == pipeline.ActionStep && e.Percent == 100 {
			decisions = append(decisions, e.Decision)
		}
	}
	if diff := cmp.Diff([]string{"watching", "succeeded"}, decisions); diff != "" {
		t.Errorf("audited 100%% decisions (-want +got):\n%s", diff)
	}
}
