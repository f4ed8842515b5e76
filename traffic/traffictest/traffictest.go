package traffictest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// Seeder creates a ready revision whose name ends with suffix for the suite
// to route traffic to (creating the service on first use), and returns its
// short revision name. How traffic is routed while seeding is up to the
// seeder; the suite reads the split afterwards.
type Seeder func(ctx context.Context, suffix string) (revision string, err error)

// Repository is the image repository of the artifacts the suites deploy.
const Repository = "europe-west1-docker.pkg.dev/proj/apps/api"

// Artifact returns a distinct, valid artifact in [Repository] for seed: the
// digest is the SHA-256 of seed.
func Artifact(seed string) registry.Artifact {
	sum := sha256.Sum256([]byte(seed))
	return registry.Artifact{Repository: Repository, Digest: "sha256:" + hex.EncodeToString(sum[:])}
}

// DeploySeeder returns a Seeder that deploys each suffix through st with
// [stage.RouteAll] and the artifact [Artifact](suffix).
func DeploySeeder(st stage.Stage) Seeder {
	return func(ctx context.Context, suffix string) (string, error) {
		rev, err := st.Deploy(ctx, stage.Release{Artifact: Artifact(suffix), Revision: suffix, Traffic: stage.RouteAll})
		if err != nil {
			return "", fmt.Errorf("traffictest: seeding revision %q: %w", suffix, err)
		}
		return rev.Name, nil
	}
}

// Run runs the Router contract tests as subtests of t. newRouter returns a
// fresh router over a service that does not exist yet, and a Seeder that
// creates revisions in it; it is called once per subtest, possibly in
// parallel, and should register its cleanup with t.Cleanup.
func Run(t *testing.T, newRouter func(t *testing.T) (traffic.Router, Seeder)) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, r traffic.Router, seed Seeder)
	}{
		{"SplitOfMissingServiceIsNotFound", testMissingService},
		{"SplitAfterSeeding", testSplitAfterSeeding},
		{"SetSplitRoundTrips", testRoundTrip},
		{"VersionChangesOnEveryWrite", testVersionChanges},
		{"StaleVersionConflictsAndChangesNothing", testStaleVersion},
		{"ConcurrentWritersOneWins", testConcurrentWriters},
		{"StateRoundTripsInTheSameWrite", testState},
		{"InvalidSplitChangesNothing", testInvalid},
		{"MissingRevisionIsInvalid", testMissingRevision},
		{"LatestTargetFollowsLatestReady", testLatest},
		{"EmptyTargetsMeanLatest", testEmptyTargets},
		{"LatestRevisionIgnoredOnWrite", testLatestRevisionIgnored},
		{"TargetsAreGettable", testTargetsGettable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, seed := newRouter(t)
			tc.fn(t, r, seed)
		})
	}
}

// seedAll seeds each suffix in order and returns the revision names.
func seedAll(t *testing.T, seed Seeder, suffixes ...string) []string {
	t.Helper()
	var out []string
	for _, s := range suffixes {
		name, err := seed(t.Context(), s)
		if err != nil {
			t.Fatalf("seeding %q: %v", s, err)
		}
		out = append(out, name)
	}
	return out
}

func mustSplit(t *testing.T, r traffic.Router) traffic.Split {
	t.Helper()
	sp, err := r.Split(t.Context())
	if err != nil {
		t.Fatalf("Split() error: %v", err)
	}
	if sp.Version == "" {
		t.Fatalf("Split() = %v with an empty Version; want the current version", sp)
	}
	return sp
}

func mustSet(t *testing.T, r traffic.Router, sp traffic.Split) traffic.Split {
	t.Helper()
	got, err := r.SetSplit(t.Context(), sp)
	if err != nil {
		t.Fatalf("SetSplit(%v) error: %v", sp, err)
	}
	return got
}

// diffSplit compares routing (normalized targets), State and, if
// withVersion, Version.
func diffSplit(want, got traffic.Split, withVersion bool) string {
	type view struct {
		Targets []traffic.Target
		State   string
		Version string
	}
	v := func(s traffic.Split) view {
		out := view{Targets: traffic.Normalize(s).Targets, State: s.State}
		if withVersion {
			out.Version = s.Version
		}
		return out
	}
	return cmp.Diff(v(want), v(got), cmpopts.EquateEmpty())
}

func testMissingService(t *testing.T, r traffic.Router, _ Seeder) {
	_, err := r.Split(t.Context())
	if !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("Split() of a service that does not exist: error %v, want one wrapping twostage.ErrNotFound", err)
	}
	_, err = r.SetSplit(t.Context(), traffic.Split{Targets: []traffic.Target{{Latest: true, Percent: 100}}})
	if !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("SetSplit() on a service that does not exist: error %v, want one wrapping twostage.ErrNotFound", err)
	}
}

func testSplitAfterSeeding(t *testing.T, r traffic.Router, seed Seeder) {
	revs := seedAll(t, seed, "a1", "b2")
	sp := mustSplit(t, r)
	if sp.LatestRevision != revs[1] {
		t.Errorf("Split().LatestRevision = %q, want the last seeded revision %q", sp.LatestRevision, revs[1])
	}
	if err := traffic.Validate(sp, ""); err != nil {
		t.Errorf("Split() = %v is not a valid split: %v", sp, err)
	}
	want := map[string]int{revs[1]: 100}
	if diff := cmp.Diff(want, positive(traffic.Shares(sp))); diff != "" {
		t.Errorf("Split() shares mismatch (-want +got):\n%s", diff)
	}
}

// positive drops zero shares.
func positive(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func testRoundTrip(t *testing.T, r traffic.Router, seed Seeder) {
	revs := seedAll(t, seed, "a1", "b2")
	before := mustSplit(t, r)
	want := traffic.Split{
		Targets: []traffic.Target{{Revision: revs[0], Percent: 90}, {Revision: revs[1], Percent: 10, Tag: "canary"}},
		Version: before.Version,
		State:   `{"step":1}`,
	}
	got := mustSet(t, r, want)
	if diff := diffSplit(want, got, false); diff != "" {
		t.Errorf("SetSplit() result mismatch (-want +got):\n%s", diff)
	}
	if got.Version == "" || got.Version == before.Version {
		t.Errorf("SetSplit() Version = %q, want a new non-empty version (was %q)", got.Version, before.Version)
	}
	if got.LatestRevision != revs[1] {
		t.Errorf("SetSplit() LatestRevision = %q, want %q", got.LatestRevision, revs[1])
	}
	reread := mustSplit(t, r)
	if diff := diffSplit(got, reread, true); diff != "" {
		t.Errorf("Split() after SetSplit mismatch (-want +got):\n%s", diff)
	}
}

func testVersionChanges(t *testing.T, r traffic.Router, seed Seeder) {
	revs := seedAll(t, seed, "a1", "b2")
	sp := mustSplit(t, r)
	seen := map[string]int{sp.Version: 0}
	for i, p := range []int{50, 100, 0, 50} {
		sp = mustSet(t, r, traffic.Split{
			Targets: []traffic.Target{{Revision: revs[0], Percent: p}, {Revision: revs[1], Percent: 100 - p}},
			Version: sp.Version,
		})
		if prev, dup := seen[sp.Version]; dup {
			t.Fatalf("write %d returned Version %q, already returned by write %d; want a new version on every write", i+1, sp.Version, prev)
		}
		seen[sp.Version] = i + 1
	}
}

func testStaleVersion(t *testing.T, r traffic.Router, seed Seeder) {
	revs := seedAll(t, seed, "a1", "b2")
	v0 := mustSplit(t, r)
	v1 := mustSet(t, r, traffic.Split{
		Targets: []traffic.Target{{Revision: revs[0], Percent: 100}},
		Version: v0.Version,
		State:   "first",
	})
	_, err := r.SetSplit(t.Context(), traffic.Split{
		Targets: []traffic.Target{{Revision: revs[1], Percent: 100}},
		Version: v0.Version,
		State:   "second",
	})
	if !errors.Is(err, twostage.ErrConflict) {
		t.Fatalf("SetSplit() with stale version %q: error %v, want one wrapping twostage.ErrConflict", v0.Version, err)
	}
	if diff := diffSplit(v1, mustSplit(t, r), true); diff != "" {
		t.Errorf("split after a refused write mismatch (-want +got):\n%s", diff)
	}
}

func testConcurrentWriters(t *testing.T, r traffic.Router, seed Seeder) {
	revs := seedAll(t, seed, "a1", "b2")
	v0 := mustSplit(t, r)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = r.SetSplit(t.Context(), traffic.Split{
				Targets: []traffic.Target{{Revision: revs[i], Percent: 100}},
				Version: v0.Version,
				State:   fmt.Sprint("writer", i),
			})
		})
	}
	wg.Wait()
	won, lost := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, twostage.ErrConflict):
			lost++
		default:
			t.Errorf("concurrent SetSplit() error %v, want nil or one wrapping twostage.ErrConflict", err)
		}
	}
	if won != 1 || lost != 1 {
		t.Fatalf("two concurrent SetSplit() at the same version: %d succeeded and %d conflicted, want 1 and 1 (errors %v)", won, lost, errs)
	}
	winner := 0
	if errs[0] != nil {
		winner = 1
	}
	want := traffic.Split{Targets: []traffic.Target{{Revision: revs[winner], Percent: 100}}, State: fmt.Sprint("writer", winner)}
	if diff := diffSplit(want, mustSplit(t, r), false); diff != "" {
		t.Errorf("split after the race mismatch (-want +got):\n%s", diff)
	}
}

func testState(t *testing.T, r traffic.Router, seed Seeder) {
	revs := seedAll(t, seed, "a1", "b2")
	sp := mustSplit(t, r)
	if sp.State != "" {
		t.Errorf("Split().State of a fresh service = %q, want empty", sp.State)
	}
	state := `{"plan":"5,25,100","step":2,"candidate":"` + revs[1] + `"}`
	sp = mustSet(t, r, traffic.Split{
		Targets: []traffic.Target{{Revision: revs[0], Percent: 75}, {Revision: revs[1], Percent: 25}},
		Version: sp.Version,
		State:   state,
	})
	if got := mustSplit(t, r); got.State != state || got.Version != sp.Version {
		t.Errorf("Split() = state %q version %q, want state %q version %q (written together)", got.State, got.Version, state, sp.Version)
	}
	sp = mustSet(t, r, traffic.Split{Targets: []traffic.Target{{Revision: revs[1], Percent: 100}}, Version: sp.Version})
	if got := mustSplit(t, r); got.State != "" {
		t.Errorf("Split().State after writing an empty state = %q, want empty", got.State)
	}
}

func testInvalid(t *testing.T, r traffic.Router, seed Seeder) {
	revs := seedAll(t, seed, "a1", "b2")
	before := mustSet(t, r, traffic.Split{
		Targets: []traffic.Target{{Revision: revs[0], Percent: 50}, {Revision: revs[1], Percent: 50}},
		Version: mustSplit(t, r).Version,
		State:   "kept",
	})
	a, b := revs[0], revs[1]
	cases := []struct {
		name    string
		targets []traffic.Target
	}{
		{"sum below 100", []traffic.Target{{Revision: a, Percent: 50}, {Revision: b, Percent: 40}}},
		{"sum above 100", []traffic.Target{{Revision: a, Percent: 60}, {Revision: b, Percent: 50}}},
		{"negative percent", []traffic.Target{{Revision: a, Percent: 110}, {Revision: b, Percent: -10}}},
		{"latest and revision", []traffic.Target{{Revision: a, Latest: true, Percent: 100}}},
		{"no revision", []traffic.Target{{Percent: 100}}},
		{"duplicate tag", []traffic.Target{{Revision: a, Percent: 100, Tag: "x"}, {Revision: b, Tag: "x"}}},
		{"bad tag", []traffic.Target{{Revision: a, Percent: 100, Tag: "Not_A_Label"}}},
		{"bad revision name", []traffic.Target{{Revision: "Bad.Name", Percent: 100}}},
	}
	for _, c := range cases {
		_, err := r.SetSplit(t.Context(), traffic.Split{Targets: c.targets, Version: before.Version, State: "changed"})
		if !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("SetSplit(%s) error %v, want one wrapping twostage.ErrInvalid", c.name, err)
		}
	}
	if diff := diffSplit(before, mustSplit(t, r), true); diff != "" {
		t.Errorf("split after refused invalid writes mismatch (-want +got):\n%s", diff)
	}
}

func testMissingRevision(t *testing.T, r traffic.Router, seed Seeder) {
	revs := seedAll(t, seed, "a1")
	before := mustSplit(t, r)
	_, err := r.SetSplit(t.Context(), traffic.Split{
		Targets: []traffic.Target{{Revision: revs[0], Percent: 50}, {Revision: "no-such-revision", Percent: 50}},
		Version: before.Version,
	})
	if !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("SetSplit() naming a missing revision: error %v, want one wrapping twostage.ErrInvalid", err)
	}
	if diff := diffSplit(before, mustSplit(t, r), true); diff != "" {
		t.Errorf("split after a refused write mismatch (-want +got):\n%s", diff)
	}
}

func testLatest(t *testing.T, r traffic.Router, seed Seeder) {
	revs := seedAll(t, seed, "a1", "b2")
	sp := mustSet(t, r, traffic.Split{
		Targets: []traffic.Target{{Latest: true, Percent: 80}, {Revision: revs[0], Percent: 20, Tag: "old"}},
		Version: mustSplit(t, r).Version,
	})
	got := mustSplit(t, r)
	if diff := diffSplit(sp, got, true); diff != "" {
		t.Errorf("Split() mismatch (-want +got):\n%s", diff)
	}
	want := map[string]int{revs[1]: 80, revs[0]: 20}
	if diff := cmp.Diff(want, traffic.Shares(got)); diff != "" {
		t.Errorf("shares with LATEST resolved to LatestRevision %q mismatch (-want +got):\n%s", got.LatestRevision, diff)
	}
}

func testEmptyTargets(t *testing.T, r traffic.Router, seed Seeder) {
	revs := seedAll(t, seed, "a1", "b2")
	sp := mustSet(t, r, traffic.Split{
		Targets: []traffic.Target{{Revision: revs[0], Percent: 100}},
		Version: mustSplit(t, r).Version,
	})
	sp = mustSet(t, r, traffic.Split{Version: sp.Version})
	want := traffic.Split{Targets: []traffic.Target{{Latest: true, Percent: 100}}}
	if diff := diffSplit(want, mustSplit(t, r), false); diff != "" {
		t.Errorf("Split() after writing empty targets mismatch (-want +got):\n%s", diff)
	}
	if got := traffic.Shares(sp)[revs[1]]; got != 100 {
		t.Errorf("share of latest revision %q = %d, want 100", revs[1], got)
	}
}

func testLatestRevisionIgnored(t *testing.T, r traffic.Router, seed Seeder) {
	revs := seedAll(t, seed, "a1", "b2")
	sp := mustSet(t, r, traffic.Split{
		Targets:        []traffic.Target{{Latest: true, Percent: 100}},
		Version:        mustSplit(t, r).Version,
		LatestRevision: revs[0],
	})
	if sp.LatestRevision != revs[1] {
		t.Errorf("SetSplit(LatestRevision %q) returned LatestRevision %q, want the service's %q (the field is read-only)", revs[0], sp.LatestRevision, revs[1])
	}
}
