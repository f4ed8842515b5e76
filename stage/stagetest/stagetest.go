package stagetest

import (
	"errors"
	"maps"
	"strconv"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/traffictest"
)

// Backend is a stage under test: it must also be a [traffic.Router], a
// [stage.Lister] and a [stage.Namer] over the same service, which must not
// exist yet.
type Backend interface {
	stage.Stage
	traffic.Router
	stage.Lister
	stage.Namer
}

// Harness is what the suite needs from one fresh backend.
type Harness struct {
	// Stage is the backend under test.
	Stage Backend
	// FailRevision makes the revision with short name name fail to become
	// ready, with reason as the backend's reason, when a later Deploy
	// creates it (fake.Service.FailRevision, cloudrunfake.Server.FailRevision).
	FailRevision func(name, reason string)
}

// Artifact returns a distinct, valid artifact for seed
// (see [traffictest.Artifact]).
func Artifact(seed string) registry.Artifact { return traffictest.Artifact(seed) }

// Run runs the Stage contract tests as subtests of t. newHarness returns a
// fresh backend over a service that does not exist yet; it is called once
// per subtest, possibly in parallel, and should register its cleanup with
// t.Cleanup.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"RouteAllCreatesAndServes", testRouteAllCreates},
		{"RedeployAdopts", testRedeploy},
		{"SameNameOtherArtifactConflicts", testConflict},
		{"SameNameOtherLabelsConflicts", testLabelConflict},
		{"RouteNoneKeepsWhoServes", testRouteNone},
		{"RouteNoneKeepsAnExplicitSplit", testRouteNoneSplit},
		{"RouteNoneMovesTheTag", testRouteNoneMovesTag},
		{"RouteNoneRedeployAfterPromotionMovesNothing", testRouteNoneRerun},
		{"RouteNoneOnMissingServiceIsRefused", testRouteNoneMissing},
		{"RouteAllKeepsTagsAndTakesAll", testRouteAllAfterSplit},
		{"RouteAllRedeployOfAnOlderRevisionServesIt", testRouteAllOlder},
		{"NotReadyLeavesTraffic", testNotReady},
		{"SplitToNotReadyRevisionIsInvalid", testSplitToNotReady},
		{"RollbackAfterAFailedDeployIsOneWrite", testRollbackAfterFailure},
		{"InvalidReleaseChangesNothing", testInvalid},
		{"TagURLs", testTagURLs},
		{"LabelsAreSet", testLabels},
		{"RevisionsNewestFirst", testRevisionsOrder},
		{"ConcurrentDeploysAllLand", testConcurrentDeploys},
		{"FullRevisionNameEqualsSuffix", testFullName},
		{"SameOverridesAdopt", testOverridesAdopt},
		{"OtherOverridesConflict", testOverridesConflict},
		{"InvalidOverridesChangeNothing", testOverridesInvalid},
		{"GetterReadsWhatDeployReturned", testGetter},
		{"DriftComparesTheLiveTemplate", testDrift},
		{"ConditionalDeployRefusesAMovedService", testConditionalDeploy},
		{"DeleterKeepsWhatServes", testDeleter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newHarness(t))
		})
	}
}

func release(suffix string, tr stage.Traffic, tags ...string) stage.Release {
	return stage.Release{Artifact: Artifact(suffix), Revision: suffix, Traffic: tr, Tags: tags}
}

func mustDeploy(t *testing.T, st stage.Stage, r stage.Release) stage.Revision {
	t.Helper()
	rev, err := st.Deploy(t.Context(), r)
	if err != nil {
		t.Fatalf("Deploy(%s, %s, tags %q) error: %v", r.Revision, r.Traffic, r.Tags, err)
	}
	return rev
}

func mustSplit(t *testing.T, r traffic.Router) traffic.Split {
	t.Helper()
	sp, err := r.Split(t.Context())
	if err != nil {
		t.Fatalf("Split() error: %v", err)
	}
	return sp
}

// serving returns who gets traffic: the revisions with a positive share,
// LATEST resolved.
func serving(sp traffic.Split) map[string]int {
	out := make(map[string]int)
	for k, v := range traffic.Shares(sp) {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

// tags maps each tag of sp to the revision it reaches.
func tags(sp traffic.Split) map[string]string {
	out := make(map[string]string)
	for _, tg := range sp.Targets {
		if tg.Tag != "" {
			out[tg.Tag], _ = traffic.TagOf(sp, tg.Tag)
		}
	}
	return out
}

func name(t *testing.T, st Backend, suffix string) string {
	t.Helper()
	n, err := stage.RevisionName(st.Name(), suffix)
	if err != nil {
		t.Fatalf("RevisionName(%q, %q): %v", st.Name(), suffix, err)
	}
	return n
}

func revisions(t *testing.T, st stage.Lister) []stage.Revision {
	t.Helper()
	var out []stage.Revision
	for r, err := range st.Revisions(t.Context()) {
		if err != nil {
			t.Fatalf("Revisions() error: %v", err)
		}
		out = append(out, r)
	}
	return out
}

func names(revs []stage.Revision) []string {
	var out []string
	for _, r := range revs {
		out = append(out, r.Name)
	}
	return out
}

func testRouteAllCreates(t *testing.T, h Harness) {
	st := h.Stage
	r := release("a1", stage.RouteAll)
	r.Labels = map[string]string{"team": "core"}
	rev := mustDeploy(t, st, r)
	if want := name(t, st, "a1"); rev.Name != want {
		t.Errorf("Deploy().Name = %q, want %q", rev.Name, want)
	}
	if !rev.Ready || rev.Artifact != r.Artifact || rev.URL == "" || rev.Labels["team"] != "core" {
		t.Errorf("Deploy() = %+v, want ready, artifact %v, a URL and label team=core", rev, r.Artifact)
	}
	sp := mustSplit(t, st)
	if diff := cmp.Diff(map[string]int{rev.Name: 100}, serving(sp)); diff != "" {
		t.Errorf("serving after the first RouteAll deploy mismatch (-want +got):\n%s", diff)
	}
	if sp.LatestRevision != rev.Name {
		t.Errorf("Split().LatestRevision = %q, want %q", sp.LatestRevision, rev.Name)
	}
}

func testRedeploy(t *testing.T, h Harness) {
	st := h.Stage
	for _, tr := range []stage.Traffic{stage.RouteAll, stage.RouteNone} {
		r := release("a1", tr, "candidate")
		if tr == stage.RouteNone {
			mustDeploy(t, st, release("b2", stage.RouteAll))
			r = release("c3", tr, "candidate")
		}
		first := mustDeploy(t, st, r)
		before := mustSplit(t, st)
		again := mustDeploy(t, st, r)
		if diff := cmp.Diff(first, again, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: Deploy() of the same release again mismatch (-first +again):\n%s", tr, diff)
		}
		// Whether the re-run writes at all (a new Version) is left to the
		// backend: stage/cloudrun writes nothing, fake.Service writes.
		after := mustSplit(t, st)
		if !traffic.Equal(before, after) || after.State != before.State {
			t.Errorf("%s: re-deploying the same release changed the split %v → %v; want it unchanged", tr, before, after)
		}
	}
	got := names(revisions(t, st))
	if len(got) != 3 {
		t.Errorf("Revisions() = %q, want 3 revisions (no duplicates)", got)
	}
}

func testConflict(t *testing.T, h Harness) {
	st := h.Stage
	first := mustDeploy(t, st, release("a1", stage.RouteAll))
	before := mustSplit(t, st)
	r := release("a1", stage.RouteAll)
	r.Artifact = Artifact("something else")
	if _, err := st.Deploy(t.Context(), r); !errors.Is(err, twostage.ErrConflict) {
		t.Errorf("Deploy() of revision %q with another artifact: error %v, want one wrapping twostage.ErrConflict", first.Name, err)
	}
	if after := mustSplit(t, st); after.Version != before.Version {
		t.Errorf("a refused deploy changed the split %v → %v", before, after)
	}
	revs := revisions(t, st)
	if len(revs) != 1 || revs[0].Artifact != first.Artifact {
		t.Errorf("Revisions() = %+v, want only %q running %v", revs, first.Name, first.Artifact)
	}
}

// testConditionalDeploy: a release decided on a split that has moved on
// since (Release.Version) is refused with ErrConflict and writes nothing;
// one decided on the current split lands.
func testConditionalDeploy(t *testing.T, h Harness) {
	st := h.Stage
	mustDeploy(t, st, release("a1", stage.RouteAll))
	read := mustSplit(t, st)
	b := release("b2", stage.RouteNone, "candidate")
	b.Version = read.Version
	won := mustDeploy(t, st, b)
	after := mustSplit(t, st)
	c := release("c3", stage.RouteNone, "candidate")
	c.Version = read.Version // decided on the split before b2's write
	if _, err := st.Deploy(t.Context(), c); !errors.Is(err, twostage.ErrConflict) {
		t.Fatalf("Deploy(c3) decided on version %q after b2 moved the service on: error %v, want one wrapping twostage.ErrConflict", read.Version, err)
	}
	now := mustSplit(t, st)
	if now.Version != after.Version || tags(now)["candidate"] != won.Name {
		t.Errorf("a refused conditional deploy changed the service: %v → %v, want the candidate tag still on %s", after, now, won.Name)
	}
	for _, r := range revisions(t, st) {
		if r.Name == name(t, h.Stage, "c3") {
			t.Errorf("a refused conditional deploy created revision %s", r.Name)
		}
	}
}

func testLabelConflict(t *testing.T, h Harness) {
	st := h.Stage
	r := release("a1", stage.RouteAll)
	r.Labels = map[string]string{"team": "core"}
	mustDeploy(t, st, r)
	r.Labels = map[string]string{"team": "edge"}
	if _, err := st.Deploy(t.Context(), r); !errors.Is(err, twostage.ErrConflict) {
		t.Errorf("Deploy() of the same revision with label team=edge instead of core: error %v, want one wrapping twostage.ErrConflict", err)
	}
}

func testRouteNone(t *testing.T, h Harness) {
	st := h.Stage
	a := mustDeploy(t, st, release("a1", stage.RouteAll))
	before := mustSplit(t, st)
	b := mustDeploy(t, st, release("b2", stage.RouteNone, "candidate"))
	if !b.Ready || b.TagURLs["candidate"] == "" {
		t.Errorf("Deploy(RouteNone, candidate) = %+v, want ready with a candidate tag URL", b)
	}
	after := mustSplit(t, st)
	if diff := cmp.Diff(serving(before), serving(after)); diff != "" {
		t.Errorf("a RouteNone deploy changed who serves (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{a.Name: 100}, serving(after)); diff != "" {
		t.Errorf("serving after RouteNone mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"candidate": b.Name}, tags(after)); diff != "" {
		t.Errorf("tags after RouteNone mismatch (-want +got):\n%s", diff)
	}
}

func testRouteNoneSplit(t *testing.T, h Harness) {
	st := h.Stage
	a := mustDeploy(t, st, release("a1", stage.RouteAll))
	b := mustDeploy(t, st, release("b2", stage.RouteAll, "stable"))
	sp, err := st.SetSplit(t.Context(), traffic.Split{
		Targets: []traffic.Target{{Revision: a.Name, Percent: 30}, {Latest: true, Percent: 70, Tag: "stable"}},
		Version: mustSplit(t, st).Version,
		State:   "step",
	})
	if err != nil {
		t.Fatalf("SetSplit() error: %v", err)
	}
	mustDeploy(t, st, release("c3", stage.RouteNone))
	after := mustSplit(t, st)
	if diff := cmp.Diff(map[string]int{a.Name: 30, b.Name: 70}, serving(after)); diff != "" {
		t.Errorf("serving after RouteNone over a 30/70 split mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"stable": b.Name}, tags(after)); diff != "" {
		t.Errorf("tags after RouteNone mismatch (-want +got):\n%s", diff)
	}
	if after.State != sp.State {
		t.Errorf("Split().State after a deploy = %q, want %q kept", after.State, sp.State)
	}
}

func testRouteNoneMovesTag(t *testing.T, h Harness) {
	st := h.Stage
	a := mustDeploy(t, st, release("a1", stage.RouteAll))
	mustDeploy(t, st, release("b2", stage.RouteNone, "candidate"))
	c := mustDeploy(t, st, release("c3", stage.RouteNone, "candidate"))
	after := mustSplit(t, st)
	if diff := cmp.Diff(map[string]int{a.Name: 100}, serving(after)); diff != "" {
		t.Errorf("serving mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"candidate": c.Name}, tags(after)); diff != "" {
		t.Errorf("tags after moving candidate mismatch (-want +got):\n%s", diff)
	}
}

func testRouteNoneRerun(t *testing.T, h Harness) {
	st := h.Stage
	a := mustDeploy(t, st, release("a1", stage.RouteAll))
	b := mustDeploy(t, st, release("b2", stage.RouteNone, "candidate"))
	sp, err := st.SetSplit(t.Context(), traffic.Split{
		Targets: []traffic.Target{{Revision: a.Name, Percent: 75}, {Revision: b.Name, Percent: 25, Tag: "candidate"}},
		Version: mustSplit(t, st).Version,
	})
	if err != nil {
		t.Fatalf("SetSplit() error: %v", err)
	}
	mustDeploy(t, st, release("b2", stage.RouteNone, "candidate"))
	after := mustSplit(t, st)
	if diff := cmp.Diff(serving(sp), serving(after)); diff != "" {
		t.Errorf("re-running a RouteNone deploy mid-rollout changed who serves (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"candidate": b.Name}, tags(after)); diff != "" {
		t.Errorf("tags mismatch (-want +got):\n%s", diff)
	}
}

func testRouteNoneMissing(t *testing.T, h Harness) {
	st := h.Stage
	_, err := st.Deploy(t.Context(), release("a1", stage.RouteNone, "candidate"))
	if !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("Deploy(RouteNone) on a service that does not exist: error %v, want one wrapping twostage.ErrInvalid", err)
	}
	if _, err := st.Split(t.Context()); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("Split() after a refused first deploy: error %v, want one wrapping twostage.ErrNotFound (nothing created)", err)
	}
}

func testRouteAllAfterSplit(t *testing.T, h Harness) {
	st := h.Stage
	a := mustDeploy(t, st, release("a1", stage.RouteAll, "stable"))
	b := mustDeploy(t, st, release("b2", stage.RouteNone, "candidate"))
	if _, err := st.SetSplit(t.Context(), traffic.Split{
		Targets: []traffic.Target{{Revision: a.Name, Percent: 50, Tag: "stable"}, {Revision: b.Name, Percent: 50, Tag: "candidate"}},
		Version: mustSplit(t, st).Version,
	}); err != nil {
		t.Fatalf("SetSplit() error: %v", err)
	}
	c := mustDeploy(t, st, release("c3", stage.RouteAll, "dev"))
	after := mustSplit(t, st)
	if diff := cmp.Diff(map[string]int{c.Name: 100}, serving(after)); diff != "" {
		t.Errorf("serving after RouteAll mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"stable": a.Name, "candidate": b.Name, "dev": c.Name}, tags(after)); diff != "" {
		t.Errorf("tags after RouteAll mismatch (-want +got):\n%s", diff)
	}
}

func testNotReady(t *testing.T, h Harness) {
	st := h.Stage
	a := mustDeploy(t, st, release("a1", stage.RouteAll))
	for _, r := range []stage.Release{release("b2", stage.RouteAll), release("c3", stage.RouteNone, "candidate")} {
		h.FailRevision(name(t, st, r.Revision), "container failed to start")
		before := mustSplit(t, st)
		rev, err := st.Deploy(t.Context(), r)
		if !errors.Is(err, twostage.ErrNotReady) {
			t.Fatalf("Deploy(%s) of a failing revision: error %v, want one wrapping twostage.ErrNotReady", r.Traffic, err)
		}
		if want := name(t, st, r.Revision); rev.Name != want || rev.Ready {
			t.Errorf("Deploy(%s) of a failing revision returned %+v, want revision %q with Ready false", r.Traffic, rev, want)
		}
		after := mustSplit(t, st)
		if diff := cmp.Diff(serving(before), serving(after)); diff != "" {
			t.Errorf("Deploy(%s) of a failing revision changed who serves (-before +after):\n%s", r.Traffic, diff)
		}
		if after.LatestRevision != a.Name {
			t.Errorf("Split().LatestRevision = %q after a failed deploy, want %q", after.LatestRevision, a.Name)
		}
		if _, err := st.Deploy(t.Context(), r); !errors.Is(err, twostage.ErrNotReady) {
			t.Errorf("Deploy(%s) of the failed revision again: error %v, want one wrapping twostage.ErrNotReady", r.Traffic, err)
		}
	}
}

func testInvalid(t *testing.T, h Harness) {
	st := h.Stage
	good := release("a1", stage.RouteAll, "dev")
	cases := []struct {
		name string
		edit func(r *stage.Release)
	}{
		{"zero artifact", func(r *stage.Release) { r.Artifact = registry.Artifact{} }},
		{"bad digest", func(r *stage.Release) { r.Artifact.Digest = "sha256:1234" }},
		{"no traffic mode", func(r *stage.Release) { r.Traffic = "" }},
		{"unknown traffic mode", func(r *stage.Release) { r.Traffic = "some" }},
		{"bad revision name", func(r *stage.Release) { r.Revision = "v1.4.2" }},
		{"bad tag", func(r *stage.Release) { r.Tags = []string{"Dev_1"} }},
		{"duplicate tag", func(r *stage.Release) { r.Tags = []string{"dev", "dev"} }},
		{"bad label key", func(r *stage.Release) { r.Labels = map[string]string{"Team": "core"} }},
		{"bad label value", func(r *stage.Release) { r.Labels = map[string]string{"team": "Core Team"} }},
		{"reserved label", func(r *stage.Release) { r.Labels = map[string]string{"run.googleapis.com/x": "y"} }},
	}
	for _, c := range cases {
		r := good
		r.Labels = maps.Clone(good.Labels)
		c.edit(&r)
		if _, err := st.Deploy(t.Context(), r); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("Deploy(%s) error %v, want one wrapping twostage.ErrInvalid", c.name, err)
		}
	}
	if _, err := st.Split(t.Context()); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("Split() after only invalid deploys: error %v, want one wrapping twostage.ErrNotFound", err)
	}
	if revs := revisions(t, st); len(revs) != 0 {
		t.Errorf("Revisions() of a service that does not exist = %+v, want none and no error", revs)
	}
}

func testTagURLs(t *testing.T, h Harness) {
	st := h.Stage
	a := mustDeploy(t, st, release("a1", stage.RouteAll, "dev", "main"))
	if len(a.TagURLs) != 2 || a.TagURLs["dev"] == "" || a.TagURLs["main"] == "" || a.TagURLs["dev"] == a.TagURLs["main"] || a.TagURLs["dev"] == a.URL {
		t.Errorf("Deploy(tags dev, main).TagURLs = %v (URL %q), want two distinct tag URLs, distinct from the service URL", a.TagURLs, a.URL)
	}
	b := mustDeploy(t, st, release("b2", stage.RouteNone, "dev"))
	if b.TagURLs["dev"] != a.TagURLs["dev"] {
		t.Errorf("tag dev moved to %q has URL %q, want the tag's URL %q (a tag URL depends on the tag only)", b.Name, b.TagURLs["dev"], a.TagURLs["dev"])
	}
	for _, r := range revisions(t, st) {
		if r.Name == a.Name {
			if _, ok := r.TagURLs["dev"]; ok {
				t.Errorf("Revisions(): %q still lists tag dev, which moved to %q", a.Name, b.Name)
			}
		}
	}
}

func testLabels(t *testing.T, h Harness) {
	st := h.Stage
	r := release("a1", stage.RouteAll)
	r.Labels = map[string]string{stage.LabelCommit: "0123456789abcdef0123456789abcdef01234567", stage.LabelRef: "main"}
	rev := mustDeploy(t, st, r)
	revs := revisions(t, st)
	if len(revs) != 1 {
		t.Fatalf("Revisions() = %+v, want one", revs)
	}
	for k, v := range r.Labels {
		if rev.Labels[k] != v || revs[0].Labels[k] != v {
			t.Errorf("label %s: Deploy() has %q, Revisions() %q, want %q", k, rev.Labels[k], revs[0].Labels[k], v)
		}
	}
}

func testRevisionsOrder(t *testing.T, h Harness) {
	st := h.Stage
	var want []string
	for _, s := range []string{"c1", "b2", "a3"} {
		want = append([]string{mustDeploy(t, st, release(s, stage.RouteAll)).Name}, want...)
	}
	revs := revisions(t, st)
	if diff := cmp.Diff(want, names(revs)); diff != "" {
		t.Errorf("Revisions() not newest first (-want +got):\n%s", diff)
	}
	for i := 1; i < len(revs); i++ {
		if revs[i].Created.After(revs[i-1].Created) {
			t.Errorf("Revisions()[%d] created %v after [%d] %v; want newest first", i, revs[i].Created, i-1, revs[i-1].Created)
		}
	}
}

func testFullName(t *testing.T, h Harness) {
	st := h.Stage
	full := name(t, st, "a1")
	a := mustDeploy(t, st, release("a1", stage.RouteAll))
	r := release("a1", stage.RouteAll)
	r.Revision = full
	b := mustDeploy(t, st, r)
	if a.Name != full || b.Name != full {
		t.Errorf("Deploy(suffix).Name = %q, Deploy(full name).Name = %q, want both %q", a.Name, b.Name, full)
	}
	if n := len(revisions(t, st)); n != 1 {
		t.Errorf("Revisions() has %d revisions, want 1", n)
	}
}

func testRouteAllOlder(t *testing.T, h Harness) {
	st := h.Stage
	a := mustDeploy(t, st, release("a1", stage.RouteAll))
	mustDeploy(t, st, release("b2", stage.RouteAll))
	again := mustDeploy(t, st, release("a1", stage.RouteAll))
	if again.Name != a.Name || !again.Ready {
		t.Errorf("Deploy() of the older release again = %+v, want ready %q", again, a.Name)
	}
	if diff := cmp.Diff(map[string]int{a.Name: 100}, serving(mustSplit(t, st))); diff != "" {
		t.Errorf("serving after re-deploying an older release with RouteAll mismatch (-want +got):\n%s", diff)
	}
	if n := len(revisions(t, st)); n != 2 {
		t.Errorf("Revisions() has %d revisions, want 2 (no duplicate)", n)
	}
}

func testSplitToNotReady(t *testing.T, h Harness) {
	st := h.Stage
	a := mustDeploy(t, st, release("a1", stage.RouteAll))
	b := name(t, st, "b2")
	h.FailRevision(b, "container failed to start")
	if _, err := st.Deploy(t.Context(), release("b2", stage.RouteNone)); !errors.Is(err, twostage.ErrNotReady) {
		t.Fatalf("Deploy() of a failing revision: error %v, want one wrapping twostage.ErrNotReady", err)
	}
	before := mustSplit(t, st)
	_, err := st.SetSplit(t.Context(), traffic.Split{
		Targets: []traffic.Target{{Revision: a.Name, Percent: 50}, {Revision: b, Percent: 50}},
		Version: before.Version,
		State:   "changed",
	})
	if !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("SetSplit() sending traffic to not-ready revision %q: error %v, want one wrapping twostage.ErrInvalid", b, err)
	}
	// Whether the refused write still consumes a Version is left to the
	// backend: the Cloud Run emulator accepts the write and fails its
	// operation, fake.Service refuses it up front.
	after := mustSplit(t, st)
	if diff := cmp.Diff(map[string]int{a.Name: 100}, serving(after)); diff != "" {
		t.Errorf("serving after a refused split mismatch (-want +got):\n%s", diff)
	}
	if after.State != before.State {
		t.Errorf("State after a refused split = %q, want %q", after.State, before.State)
	}
}

func testConcurrentDeploys(t *testing.T, h Harness) {
	st := h.Stage
	a := mustDeploy(t, st, release("a1", stage.RouteAll))
	const n = 3
	var wg sync.WaitGroup
	revs := make([]stage.Revision, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			s := "c" + strconv.Itoa(i)
			revs[i], errs[i] = st.Deploy(t.Context(), release(s, stage.RouteNone, "tag"+s))
		})
	}
	wg.Wait()
	wantTags := map[string]string{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Deploy() %d error: %v; a deploy's intent does not depend on the state it read, so a lost race must be redone, not reported", i, err)
		}
		wantTags["tagc"+strconv.Itoa(i)] = revs[i].Name
	}
	after := mustSplit(t, st)
	if diff := cmp.Diff(map[string]int{a.Name: 100}, serving(after)); diff != "" {
		t.Errorf("serving after concurrent RouteNone deploys mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantTags, tags(after)); diff != "" {
		t.Errorf("tags after concurrent deploys mismatch (-want +got):\n%s", diff)
	}
}

func testRollbackAfterFailure(t *testing.T, h Harness) {
	st := h.Stage
	a := mustDeploy(t, st, release("a1", stage.RouteAll, "stable"))
	b := mustDeploy(t, st, release("b2", stage.RouteNone, "candidate"))
	if _, err := st.SetSplit(t.Context(), traffic.Split{
		Targets: []traffic.Target{{Revision: a.Name, Percent: 95, Tag: "stable"}, {Revision: b.Name, Percent: 5, Tag: "candidate"}},
		Version: mustSplit(t, st).Version,
		State:   "step 1",
	}); err != nil {
		t.Fatalf("SetSplit() error: %v", err)
	}
	h.FailRevision(name(t, st, "c3"), "container failed to start")
	if _, err := st.Deploy(t.Context(), release("c3", stage.RouteNone, "next")); !errors.Is(err, twostage.ErrNotReady) {
		t.Fatalf("Deploy() of a failing revision: error %v, want one wrapping twostage.ErrNotReady", err)
	}
	sp := mustSplit(t, st)
	sp, err := traffic.RouteAll(sp, a.Name)
	if err != nil {
		t.Fatal(err)
	}
	sp.State = "rolled back"
	if _, err := st.SetSplit(t.Context(), sp); err != nil {
		t.Fatalf("rollback SetSplit(%v) after a failed deploy: %v; a failed revision must not block the rollback", sp, err)
	}
	after := mustSplit(t, st)
	if diff := cmp.Diff(map[string]int{a.Name: 100}, serving(after)); diff != "" {
		t.Errorf("serving after the rollback mismatch (-want +got):\n%s", diff)
	}
	if after.State != "rolled back" {
		t.Errorf("State after the rollback = %q, want %q", after.State, "rolled back")
	}
}
