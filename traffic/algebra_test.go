package traffic_test

import (
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/traffic"
)

// split builds a split from targets, keeping Version, State and
// LatestRevision set so tests check they are carried over.
func split(ts ...traffic.Target) traffic.Split {
	return traffic.Split{Targets: ts, Version: "etag-1", State: "state-1", LatestRevision: "api-1"}
}

func rev(name string, percent int, tag string) traffic.Target {
	return traffic.Target{Revision: name, Percent: percent, Tag: tag}
}

func latest(percent int, tag string) traffic.Target {
	return traffic.Target{Latest: true, Percent: percent, Tag: tag}
}

// overlaps reports whether two slices share any element of their backing
// arrays (up to capacity), which would let an edit of one change the other.
func overlaps(a, b []traffic.Target) bool {
	if cap(a) == 0 || cap(b) == 0 {
		return false
	}
	size := unsafe.Sizeof(traffic.Target{})
	a0 := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	b0 := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	a1 := a0 + uintptr(cap(a))*size
	b1 := b0 + uintptr(cap(b))*size
	return a0 < b1 && b0 < a1
}

// checkResult asserts the invariants every algebra result must keep: the
// input is unchanged, the output does not share memory with it, the
// output is valid and carries the input's metadata.
func checkResult(t *testing.T, in, snapshot, out traffic.Split) {
	t.Helper()
	if diff := cmp.Diff(snapshot, in); diff != "" {
		t.Errorf("input was mutated (-before +after):\n%s", diff)
	}
	if overlaps(in.Targets, out.Targets) {
		t.Errorf("output Targets alias the input's backing array")
	}
	if err := traffic.Validate(out, ""); err != nil {
		t.Errorf("Validate(output) = %v, want nil; output %+v", err, out.Targets)
	}
	if out.Version != in.Version || out.State != in.State || out.LatestRevision != in.LatestRevision {
		t.Errorf("metadata not copied: got (%q, %q, %q), want (%q, %q, %q)", out.Version, out.State, out.LatestRevision, in.Version, in.State, in.LatestRevision)
	}
	sum := 0
	tags := map[string]bool{}
	for _, tg := range out.Targets {
		sum += tg.Percent
		if tg.Tag != "" {
			if tags[tg.Tag] {
				t.Errorf("tag %q appears twice in %v", tg.Tag, out.Targets)
			}
			tags[tg.Tag] = true
		}
	}
	if len(out.Targets) > 0 && sum != 100 {
		t.Errorf("output percents sum to %d, want 100: %v", sum, out.Targets)
	}
}

// checkErr asserts err wraps ErrInvalid and mentions every want substring.
func checkErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if !errors.Is(err, twostage.ErrInvalid) {
		t.Fatalf("error = %v, want one wrapping twostage.ErrInvalid", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func TestShares(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   traffic.Split
		want map[string]int
	}{
		{"empty with latest known", traffic.Split{LatestRevision: "api-3"}, map[string]int{"api-3": 100}},
		{"empty, no latest", traffic.Split{}, map[string]int{"": 100}},
		{"latest counted under LatestRevision", split(latest(60, ""), rev("api-2", 40, "")), map[string]int{"api-1": 60, "api-2": 40}},
		{"latest without LatestRevision", traffic.Split{Targets: []traffic.Target{latest(100, "")}}, map[string]int{"": 100}},
		{"latest merges with pinned entry of the same revision", split(latest(30, ""), rev("api-1", 70, "stable")), map[string]int{"api-1": 100}},
		{"entries of one revision add up", split(rev("api-2", 20, ""), rev("api-2", 30, "canary"), rev("api-3", 50, "")), map[string]int{"api-2": 50, "api-3": 50}},
		{"tag-only revisions appear with 0", split(rev("api-2", 100, "stable"), rev("api-3", 0, "candidate")), map[string]int{"api-2": 100, "api-3": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			snap := tt.in.Clone()
			got := traffic.Shares(tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Shares(%v) mismatch (-want +got):\n%s", tt.in.Targets, diff)
			}
			if diff := cmp.Diff(snap, tt.in); diff != "" {
				t.Errorf("input was mutated:\n%s", diff)
			}
		})
	}
}

func TestPin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      traffic.Split
		latest  string
		want    []traffic.Target
		wantErr []string
	}{
		{
			name:   "empty split",
			in:     split(),
			latest: "api-1",
			want:   []traffic.Target{rev("api-1", 100, "")},
		},
		{
			name:   "latest 100%",
			in:     split(latest(100, "")),
			latest: "api-1",
			want:   []traffic.Target{rev("api-1", 100, "")},
		},
		{
			name:   "tag kept, position kept",
			in:     split(rev("api-0", 0, "old"), latest(100, "live")),
			latest: "api-1",
			want:   []traffic.Target{rev("api-0", 0, "old"), rev("api-1", 100, "live")},
		},
		{
			name:   "tag-only latest keeps 0",
			in:     split(rev("api-1", 100, ""), latest(0, "head")),
			latest: "api-2",
			want:   []traffic.Target{rev("api-1", 100, ""), rev("api-2", 0, "head")},
		},
		{
			name:   "untagged latest merges into the revision's untagged entry",
			in:     split(rev("api-2", 40, ""), latest(60, ""), rev("api-2", 0, "stable")),
			latest: "api-2",
			want:   []traffic.Target{rev("api-2", 100, ""), rev("api-2", 0, "stable")},
		},
		{
			name:   "untagged latest placed first then merged",
			in:     split(latest(60, ""), rev("api-3", 30, ""), rev("api-3", 10, "")),
			latest: "api-3",
			want:   []traffic.Target{rev("api-3", 100, "")},
		},
		{
			name:   "no latest: unchanged copy, even with latest empty",
			in:     split(rev("api-1", 95, "stable"), rev("api-2", 5, "candidate")),
			latest: "",
			want:   []traffic.Target{rev("api-1", 95, "stable"), rev("api-2", 5, "candidate")},
		},
		{
			name:    "empty split and no ready revision",
			in:      split(),
			latest:  "",
			wantErr: []string{"no ready revision to pin LATEST to"},
		},
		{
			name:    "latest target and no ready revision",
			in:      split(latest(100, "")),
			latest:  "",
			wantErr: []string{"no ready revision to pin LATEST to"},
		},
		{
			name:    "malformed latest",
			in:      split(latest(100, "")),
			latest:  "API_1",
			wantErr: []string{`"API_1"`, "not a valid revision name"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			snap := tt.in.Clone()
			got, err := traffic.Pin(tt.in, tt.latest)
			if tt.wantErr != nil {
				checkErr(t, err, tt.wantErr...)
				return
			}
			if err != nil {
				t.Fatalf("Pin(%v, %q) = %v", tt.in.Targets, tt.latest, err)
			}
			if diff := cmp.Diff(tt.want, got.Targets); diff != "" {
				t.Errorf("Pin(%v, %q) mismatch (-want +got):\n%s", tt.in.Targets, tt.latest, diff)
			}
			checkResult(t, tt.in, snap, got)
			if !traffic.Equal(got, mustPin(t, got, "zzz")) {
				t.Errorf("Pin is not idempotent on %v", got.Targets)
			}
		})
	}
}

func mustPin(t *testing.T, s traffic.Split, latest string) traffic.Split {
	t.Helper()
	p, err := traffic.Pin(s, latest)
	if err != nil {
		t.Fatalf("Pin(%v, %q) = %v", s.Targets, latest, err)
	}
	return p
}

func TestRoute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       traffic.Split
		percents map[string]int
		want     []traffic.Target
		wantErr  []string
	}{
		{
			name:     "canary 5%: new revision appended untagged",
			in:       split(rev("api-1", 100, "")),
			percents: map[string]int{"api-1": 95, "api-2": 5},
			want:     []traffic.Target{rev("api-1", 95, ""), rev("api-2", 5, "")},
		},
		{
			name:     "tags move with traffic on tagged entries",
			in:       split(rev("api-1", 100, "stable"), rev("api-2", 0, "candidate")),
			percents: map[string]int{"api-1": 75, "api-2": 25},
			want:     []traffic.Target{rev("api-1", 75, "stable"), rev("api-2", 25, "candidate")},
		},
		{
			name:     "untagged entry preferred to carry the percent",
			in:       split(rev("api-1", 0, "stable"), rev("api-1", 100, ""), rev("api-2", 0, "candidate")),
			percents: map[string]int{"api-1": 90, "api-2": 10},
			want:     []traffic.Target{rev("api-1", 0, "stable"), rev("api-1", 90, ""), rev("api-2", 10, "candidate")},
		},
		{
			name:     "untagged entry later in the list still preferred",
			in:       split(rev("api-2", 0, "candidate"), rev("api-1", 100, "stable"), rev("api-2", 0, "")),
			percents: map[string]int{"api-1": 50, "api-2": 50},
			want:     []traffic.Target{rev("api-2", 0, "candidate"), rev("api-1", 50, "stable"), rev("api-2", 50, "")},
		},
		{
			name:     "two tagged entries: the first carries, the second keeps 0",
			in:       split(rev("api-1", 60, "a"), rev("api-1", 40, "b")),
			percents: map[string]int{"api-1": 100},
			want:     []traffic.Target{rev("api-1", 100, "a"), rev("api-1", 0, "b")},
		},
		{
			name:     "two untagged entries merge into the first",
			in:       split(rev("api-1", 60, ""), rev("api-1", 40, "")),
			percents: map[string]int{"api-1": 100},
			want:     []traffic.Target{rev("api-1", 100, "")},
		},
		{
			name:     "revisions losing traffic: tagged become tag-only, untagged dropped",
			in:       split(rev("api-1", 50, "old"), rev("api-2", 50, "")),
			percents: map[string]int{"api-3": 100},
			want:     []traffic.Target{rev("api-1", 0, "old"), rev("api-3", 100, "")},
		},
		{
			name:     "zero entries in percents are allowed and give nothing",
			in:       split(rev("api-1", 100, "")),
			percents: map[string]int{"api-1": 100, "api-9": 0},
			want:     []traffic.Target{rev("api-1", 100, "")},
		},
		{
			name:     "several new revisions in percent then name order",
			in:       split(rev("api-1", 100, "stable")),
			percents: map[string]int{"api-4": 30, "api-2": 30, "api-3": 40},
			want:     []traffic.Target{rev("api-1", 0, "stable"), rev("api-3", 40, ""), rev("api-2", 30, ""), rev("api-4", 30, "")},
		},
		{
			name:     "tag-only latest kept as it is",
			in:       split(rev("api-1", 100, ""), latest(0, "head")),
			percents: map[string]int{"api-2": 100},
			want:     []traffic.Target{latest(0, "head"), rev("api-2", 100, "")},
		},
		{
			name:     "untagged 0% latest dropped",
			in:       split(rev("api-1", 100, ""), latest(0, "")),
			percents: map[string]int{"api-1": 100},
			want:     []traffic.Target{rev("api-1", 100, "")},
		},
		{
			name:     "latest with traffic must be pinned",
			in:       split(latest(100, "")),
			percents: map[string]int{"api-1": 100},
			wantErr:  []string{"LATEST", "Pin"},
		},
		{
			name:     "empty split is 100% latest: must be pinned",
			in:       split(),
			percents: map[string]int{"api-1": 100},
			wantErr:  []string{"LATEST", "Pin"},
		},
		{
			name:     "sum below 100",
			in:       split(rev("api-1", 100, "")),
			percents: map[string]int{"api-1": 90, "api-2": 5},
			wantErr:  []string{"sum to 95", "want 100"},
		},
		{
			name:     "sum above 100",
			in:       split(rev("api-1", 100, "")),
			percents: map[string]int{"api-1": 100, "api-2": 5},
			wantErr:  []string{"sum to 105"},
		},
		{
			name:     "empty percents",
			in:       split(rev("api-1", 100, "")),
			percents: map[string]int{},
			wantErr:  []string{"sum to 0"},
		},
		{
			name:     "negative percent",
			in:       split(rev("api-1", 100, "")),
			percents: map[string]int{"api-1": 100, "api-2": -10, "api-3": 10},
			wantErr:  []string{"percent -10", `"api-2"`, "0..100"},
		},
		{
			name:     "invalid revision name",
			in:       split(rev("api-1", 100, "")),
			percents: map[string]int{"api-1": 95, "API-2": 5},
			wantErr:  []string{`"API-2"`, "not a valid revision name"},
		},
		{
			name:     "empty revision name",
			in:       split(rev("api-1", 100, "")),
			percents: map[string]int{"": 100},
			wantErr:  []string{`""`, "not a valid revision name"},
		},
		{
			name:     "invalid input (duplicate tag) is reported",
			in:       split(rev("api-1", 100, "x"), rev("api-2", 0, "x")),
			percents: map[string]int{"api-1": 100},
			wantErr:  []string{`tag "x"`, "fix the input split"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			snap := tt.in.Clone()
			got, err := traffic.Route(tt.in, tt.percents)
			if tt.wantErr != nil {
				checkErr(t, err, tt.wantErr...)
				return
			}
			if err != nil {
				t.Fatalf("Route(%v, %v) = %v", tt.in.Targets, tt.percents, err)
			}
			if diff := cmp.Diff(tt.want, got.Targets); diff != "" {
				t.Errorf("Route(%v, %v) mismatch (-want +got):\n%s", tt.in.Targets, tt.percents, diff)
			}
			checkResult(t, tt.in, snap, got)
			for r, p := range tt.percents {
				if s := traffic.Shares(got)[r]; s != p {
					t.Errorf("share of %q = %d, want %d", r, s, p)
				}
			}
		})
	}
}

func TestRouteDoesNotMutatePercents(t *testing.T) {
	t.Parallel()
	p := map[string]int{"api-1": 95, "api-2": 5}
	if _, err := traffic.Route(split(rev("api-1", 100, "")), p); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"api-1": 95, "api-2": 5}, p); diff != "" {
		t.Errorf("percents mutated (-want +got):\n%s", diff)
	}
}

func TestShift(t *testing.T) {
	t.Parallel()
	base := split(rev("api-1", 100, "stable"), rev("api-2", 0, "candidate"))
	tests := []struct {
		name     string
		in       traffic.Split
		from, to string
		n        int
		want     []traffic.Target
		wantErr  []string
	}{
		{
			name: "first canary step",
			in:   base, from: "api-1", to: "api-2", n: 5,
			want: []traffic.Target{rev("api-1", 95, "stable"), rev("api-2", 5, "candidate")},
		},
		{
			name: "to a revision not in the split",
			in:   split(rev("api-1", 100, "")), from: "api-1", to: "api-2", n: 25,
			want: []traffic.Target{rev("api-1", 75, ""), rev("api-2", 25, "")},
		},
		{
			name: "everything",
			in:   split(rev("api-1", 75, "stable"), rev("api-2", 25, "candidate")), from: "api-1", to: "api-2", n: 75,
			want: []traffic.Target{rev("api-1", 0, "stable"), rev("api-2", 100, "candidate")},
		},
		{
			name: "negative moves back",
			in:   split(rev("api-1", 75, "stable"), rev("api-2", 25, "candidate")), from: "api-1", to: "api-2", n: -25,
			want: []traffic.Target{rev("api-1", 100, "stable"), rev("api-2", 0, "candidate")},
		},
		{
			name: "zero changes no share",
			in:   base, from: "api-1", to: "api-2", n: 0,
			want: []traffic.Target{rev("api-1", 100, "stable"), rev("api-2", 0, "candidate")},
		},
		{
			name: "a third revision keeps its share",
			in:   split(rev("api-0", 10, ""), rev("api-1", 90, "")), from: "api-1", to: "api-2", n: 10,
			want: []traffic.Target{rev("api-0", 10, ""), rev("api-1", 80, ""), rev("api-2", 10, "")},
		},
		{
			name: "same revision",
			in:   split(rev("api-1", 100, "")), from: "api-1", to: "api-1", n: 30,
			want: []traffic.Target{rev("api-1", 100, "")},
		},
		{
			name: "tag-only latest does not block",
			in:   split(rev("api-1", 100, ""), latest(0, "head")), from: "api-1", to: "api-2", n: 5,
			want: []traffic.Target{rev("api-1", 95, ""), latest(0, "head"), rev("api-2", 5, "")},
		},
		{
			name: "not enough points",
			in:   split(rev("api-1", 95, ""), rev("api-2", 5, "")), from: "api-2", to: "api-1", n: 10,
			wantErr: []string{`"api-2" has only 5%`},
		},
		{
			name: "not enough points going back",
			in:   base, from: "api-1", to: "api-2", n: -5,
			wantErr: []string{`"api-2" has only 0%`},
		},
		{
			name: "giver absent",
			in:   base, from: "api-7", to: "api-2", n: 1,
			wantErr: []string{`"api-7" has only 0%`},
		},
		{
			name: "latest carries traffic",
			in:   split(latest(100, "")), from: "api-1", to: "api-2", n: 5,
			wantErr: []string{"LATEST", "Pin"},
		},
		{
			name: "empty split",
			in:   split(), from: "api-1", to: "api-2", n: 5,
			wantErr: []string{"LATEST", "Pin"},
		},
		{
			name: "invalid target name",
			in:   base, from: "api-1", to: "api.2", n: 5,
			wantErr: []string{`"api.2"`},
		},
		{
			name: "invalid source name",
			in:   base, from: "", to: "api-2", n: 5,
			wantErr: []string{`revision ""`},
		},
		{
			name: "more than 100",
			in:   base, from: "api-1", to: "api-2", n: 101,
			wantErr: []string{"has only 100%"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			snap := tt.in.Clone()
			got, err := traffic.Shift(tt.in, tt.from, tt.to, tt.n)
			if tt.wantErr != nil {
				checkErr(t, err, tt.wantErr...)
				return
			}
			if err != nil {
				t.Fatalf("Shift(%v, %q, %q, %d) = %v", tt.in.Targets, tt.from, tt.to, tt.n, err)
			}
			if diff := cmp.Diff(tt.want, got.Targets); diff != "" {
				t.Errorf("Shift(%v, %q, %q, %d) mismatch (-want +got):\n%s", tt.in.Targets, tt.from, tt.to, tt.n, diff)
			}
			checkResult(t, tt.in, snap, got)
		})
	}
}

func TestShiftThereAndBack(t *testing.T) {
	t.Parallel()
	s := split(rev("api-1", 100, "stable"), rev("api-2", 0, "candidate"))
	for _, n := range []int{0, 1, 5, 25, 50, 99, 100} {
		there, err := traffic.Shift(s, "api-1", "api-2", n)
		if err != nil {
			t.Fatalf("Shift %d: %v", n, err)
		}
		back, err := traffic.Shift(there, "api-1", "api-2", -n)
		if err != nil {
			t.Fatalf("Shift back %d: %v", -n, err)
		}
		if !traffic.Equal(s, back) {
			t.Errorf("shifting %d there and back: got %v, want %v", n, back, s)
		}
	}
}

func TestRouteAll(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      traffic.Split
		to      string
		want    []traffic.Target
		wantErr []string
	}{
		{
			name: "rollback keeps tags",
			in:   split(rev("api-1", 75, "stable"), rev("api-2", 25, "candidate")),
			to:   "api-1",
			want: []traffic.Target{rev("api-1", 100, "stable"), rev("api-2", 0, "candidate")},
		},
		{
			name: "promotion: untagged entries of others dropped",
			in:   split(rev("api-1", 75, ""), rev("api-1", 0, "stable"), rev("api-2", 25, "")),
			to:   "api-2",
			want: []traffic.Target{rev("api-1", 0, "stable"), rev("api-2", 100, "")},
		},
		{
			name: "new revision",
			in:   split(rev("api-1", 100, "")),
			to:   "api-2",
			want: []traffic.Target{rev("api-2", 100, "")},
		},
		{
			name: "needs no pin: latest loses its traffic, keeps its tag",
			in:   split(latest(100, "head")),
			to:   "api-1",
			want: []traffic.Target{latest(0, "head"), rev("api-1", 100, "")},
		},
		{
			name: "empty split",
			in:   split(),
			to:   "api-1",
			want: []traffic.Target{rev("api-1", 100, "")},
		},
		{
			name:    "invalid name",
			in:      split(rev("api-1", 100, "")),
			to:      "api-1-",
			wantErr: []string{`"api-1-"`, "not a valid revision name"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			snap := tt.in.Clone()
			got, err := traffic.RouteAll(tt.in, tt.to)
			if tt.wantErr != nil {
				checkErr(t, err, tt.wantErr...)
				return
			}
			if err != nil {
				t.Fatalf("RouteAll(%v, %q) = %v", tt.in.Targets, tt.to, err)
			}
			if diff := cmp.Diff(tt.want, got.Targets); diff != "" {
				t.Errorf("RouteAll(%v, %q) mismatch (-want +got):\n%s", tt.in.Targets, tt.to, diff)
			}
			checkResult(t, tt.in, snap, got)
		})
	}
}

func TestSetTag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       traffic.Split
		tag, rev string
		want     []traffic.Target
		wantErr  []string
	}{
		{
			name: "tag-only entry for a revision without traffic",
			in:   split(rev("api-1", 100, "")),
			tag:  "candidate", rev: "api-2",
			want: []traffic.Target{rev("api-1", 100, ""), rev("api-2", 0, "candidate")},
		},
		{
			name: "put on the untagged entry",
			in:   split(rev("api-1", 100, "")),
			tag:  "stable", rev: "api-1",
			want: []traffic.Target{rev("api-1", 100, "stable")},
		},
		{
			name: "moved from another revision's carrying entry",
			in:   split(rev("api-1", 100, "stable"), rev("api-2", 0, "candidate")),
			tag:  "stable", rev: "api-2",
			want: []traffic.Target{rev("api-1", 100, ""), rev("api-2", 0, "candidate"), rev("api-2", 0, "stable")},
		},
		{
			name: "moved from a tag-only entry, which is dropped",
			in:   split(rev("api-1", 95, "stable"), rev("api-2", 5, ""), rev("api-3", 0, "candidate")),
			tag:  "candidate", rev: "api-2",
			want: []traffic.Target{rev("api-1", 95, "stable"), rev("api-2", 5, "candidate")},
		},
		{
			name: "already there: unchanged",
			in:   split(rev("api-1", 95, "stable"), rev("api-2", 5, "candidate")),
			tag:  "candidate", rev: "api-2",
			want: []traffic.Target{rev("api-1", 95, "stable"), rev("api-2", 5, "candidate")},
		},
		{
			name: "already there as tag-only: unchanged",
			in:   split(rev("api-1", 100, ""), rev("api-2", 0, "candidate")),
			tag:  "candidate", rev: "api-2",
			want: []traffic.Target{rev("api-1", 100, ""), rev("api-2", 0, "candidate")},
		},
		{
			name: "empty split spelled out",
			in:   split(),
			tag:  "candidate", rev: "api-2",
			want: []traffic.Target{latest(100, ""), rev("api-2", 0, "candidate")},
		},
		{
			name: "moved off LATEST",
			in:   split(latest(100, "candidate")),
			tag:  "candidate", rev: "api-2",
			want: []traffic.Target{latest(100, ""), rev("api-2", 0, "candidate")},
		},
		{
			name: "invalid tag",
			in:   split(rev("api-1", 100, "")),
			tag:  "Candidate", rev: "api-2",
			wantErr: []string{`tag "Candidate"`, "DNS label"},
		},
		{
			name: "empty tag",
			in:   split(rev("api-1", 100, "")),
			tag:  "", rev: "api-2",
			wantErr: []string{`tag ""`},
		},
		{
			name: "tag ending in a dash",
			in:   split(rev("api-1", 100, "")),
			tag:  "canary-", rev: "api-2",
			wantErr: []string{`"canary-"`},
		},
		{
			name: "invalid revision",
			in:   split(rev("api-1", 100, "")),
			tag:  "candidate", rev: "2api",
			wantErr: []string{`"2api"`, "not a valid revision name"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			snap := tt.in.Clone()
			got, err := traffic.SetTag(tt.in, tt.tag, tt.rev)
			if tt.wantErr != nil {
				checkErr(t, err, tt.wantErr...)
				return
			}
			if err != nil {
				t.Fatalf("SetTag(%v, %q, %q) = %v", tt.in.Targets, tt.tag, tt.rev, err)
			}
			if diff := cmp.Diff(tt.want, got.Targets); diff != "" {
				t.Errorf("SetTag(%v, %q, %q) mismatch (-want +got):\n%s", tt.in.Targets, tt.tag, tt.rev, diff)
			}
			checkResult(t, tt.in, snap, got)
			if r, ok := traffic.TagOf(got, tt.tag); !ok || r != tt.rev {
				t.Errorf("TagOf(result, %q) = %q, %v; want %q, true", tt.tag, r, ok, tt.rev)
			}
			if diff := cmp.Diff(traffic.Shares(tt.in), traffic.Shares(got), cmpopts.EquateEmpty(), ignoreZero); diff != "" {
				t.Errorf("SetTag changed shares (-before +after):\n%s", diff)
			}
		})
	}
}

// ignoreZero ignores 0 shares (tag-only revisions) when comparing Shares.
var ignoreZero = cmpopts.IgnoreMapEntries(func(_ string, v int) bool { return v == 0 })

func TestRemoveTag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   traffic.Split
		tag  string
		want []traffic.Target
	}{
		{"tag-only entry dropped", split(rev("api-1", 100, "stable"), rev("api-2", 0, "candidate")), "candidate", []traffic.Target{rev("api-1", 100, "stable")}},
		{"carrying entry kept untagged", split(rev("api-1", 95, "stable"), rev("api-2", 5, "candidate")), "stable", []traffic.Target{rev("api-1", 95, ""), rev("api-2", 5, "candidate")}},
		{"latest tag", split(rev("api-1", 100, ""), latest(0, "head")), "head", []traffic.Target{rev("api-1", 100, "")}},
		{"absent tag", split(rev("api-1", 100, "stable")), "nope", []traffic.Target{rev("api-1", 100, "stable")}},
		{"empty tag removes nothing", split(rev("api-1", 60, ""), rev("api-2", 40, "")), "", []traffic.Target{rev("api-1", 60, ""), rev("api-2", 40, "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			snap := tt.in.Clone()
			got := traffic.RemoveTag(tt.in, tt.tag)
			if diff := cmp.Diff(tt.want, got.Targets); diff != "" {
				t.Errorf("RemoveTag(%v, %q) mismatch (-want +got):\n%s", tt.in.Targets, tt.tag, diff)
			}
			checkResult(t, tt.in, snap, got)
			if _, ok := traffic.TagOf(got, tt.tag); ok {
				t.Errorf("tag %q still present in %v", tt.tag, got.Targets)
			}
		})
	}
	t.Run("empty split stays empty", func(t *testing.T) {
		t.Parallel()
		got := traffic.RemoveTag(traffic.Split{}, "x")
		if len(got.Targets) != 0 {
			t.Errorf("RemoveTag(empty) = %v, want empty", got.Targets)
		}
	})
}

func TestTagOf(t *testing.T) {
	t.Parallel()
	s := split(rev("api-1", 100, "stable"), rev("api-2", 0, "candidate"), latest(0, "head"))
	noLatest := s.Clone()
	noLatest.LatestRevision = ""
	tests := []struct {
		name   string
		in     traffic.Split
		tag    string
		want   string
		wantOK bool
	}{
		{"carrying entry", s, "stable", "api-1", true},
		{"tag-only entry", s, "candidate", "api-2", true},
		{"latest resolves to LatestRevision", s, "head", "api-1", true},
		{"latest unknown", noLatest, "head", "", true},
		{"absent", s, "nope", "", false},
		{"empty tag", split(rev("api-1", 100, "")), "", "", false},
		{"empty split", traffic.Split{}, "stable", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := traffic.TagOf(tt.in, tt.tag)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("TagOf(%v, %q) = %q, %v; want %q, %v", tt.in.Targets, tt.tag, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   traffic.Split
		want []traffic.Target
	}{
		{"empty is 100% latest", split(), []traffic.Target{latest(100, "")}},
		{
			name: "percent split from tags, sorted",
			in:   split(rev("api-2", 5, "candidate"), rev("api-1", 95, "stable")),
			want: []traffic.Target{rev("api-1", 95, ""), rev("api-2", 5, ""), rev("api-1", 0, "stable"), rev("api-2", 0, "candidate")},
		},
		{
			name: "untagged entries merged, untagged 0% dropped",
			in:   split(rev("api-1", 30, ""), rev("api-2", 0, ""), rev("api-1", 70, "")),
			want: []traffic.Target{rev("api-1", 100, "")},
		},
		{
			name: "latest before revisions at equal percent",
			in:   split(rev("api-1", 50, ""), latest(50, "")),
			want: []traffic.Target{latest(50, ""), rev("api-1", 50, "")},
		},
		{
			name: "tags sorted within revision",
			in:   split(rev("api-1", 100, "zeta"), rev("api-1", 0, "alpha")),
			want: []traffic.Target{rev("api-1", 100, ""), rev("api-1", 0, "alpha"), rev("api-1", 0, "zeta")},
		},
		{
			name: "latest tag stays on latest, not on LatestRevision",
			in:   split(rev("api-1", 100, ""), latest(0, "head")),
			want: []traffic.Target{rev("api-1", 100, ""), latest(0, "head")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			snap := tt.in.Clone()
			got := traffic.Normalize(tt.in)
			if diff := cmp.Diff(tt.want, got.Targets); diff != "" {
				t.Errorf("Normalize(%v) mismatch (-want +got):\n%s", tt.in.Targets, diff)
			}
			checkResult(t, tt.in, snap, got)
			if again := traffic.Normalize(got); !slices.Equal(again.Targets, got.Targets) {
				t.Errorf("Normalize is not idempotent: %v then %v", got.Targets, again.Targets)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b traffic.Split
		want bool
	}{
		{"empty and explicit latest", traffic.Split{}, traffic.Split{Targets: []traffic.Target{latest(100, "")}}, true},
		{"order does not matter", split(rev("api-1", 95, ""), rev("api-2", 5, "")), split(rev("api-2", 5, ""), rev("api-1", 95, "")), true},
		{"tag on carrying entry or tag-only entry", split(rev("api-1", 100, "stable")), split(rev("api-1", 100, ""), rev("api-1", 0, "stable")), true},
		{"split entries of one revision", split(rev("api-1", 100, "")), split(rev("api-1", 40, ""), rev("api-1", 60, "")), true},
		{"untagged 0% entries ignored", split(rev("api-1", 100, "")), split(rev("api-1", 100, ""), rev("api-2", 0, "")), true},
		{"metadata ignored", traffic.Split{Targets: []traffic.Target{rev("api-1", 100, "")}, Version: "a", State: "x"}, traffic.Split{Targets: []traffic.Target{rev("api-1", 100, "")}, Version: "b", LatestRevision: "api-1"}, true},
		{"different shares", split(rev("api-1", 95, ""), rev("api-2", 5, "")), split(rev("api-1", 90, ""), rev("api-2", 10, "")), false},
		{"tag on another revision", split(rev("api-1", 100, "stable"), rev("api-2", 0, "")), split(rev("api-1", 100, ""), rev("api-2", 0, "stable")), false},
		{"missing tag", split(rev("api-1", 100, "stable")), split(rev("api-1", 100, "")), false},
		{"latest is not its pinned revision", split(latest(100, "")), split(rev("api-1", 100, "")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := traffic.Equal(tt.a, tt.b); got != tt.want {
				t.Errorf("Equal(%v, %v) = %v, want %v", tt.a.Targets, tt.b.Targets, got, tt.want)
			}
			if got := traffic.Equal(tt.b, tt.a); got != tt.want {
				t.Errorf("Equal is not symmetric on %v, %v", tt.a.Targets, tt.b.Targets)
			}
			if gotStr := tt.a.String() == tt.b.String(); tt.want && !gotStr {
				t.Errorf("equal splits print differently: %q and %q", tt.a.String(), tt.b.String())
			}
		})
	}
}

func TestString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   traffic.Split
		want string
	}{
		{traffic.Split{}, "LATEST=100%"},
		{split(rev("api-1", 95, ""), rev("api-2", 5, "candidate")), "api-1=95%,api-2=5%[candidate]"},
		{split(rev("api-2", 5, "candidate"), rev("api-1", 95, "")), "api-1=95%,api-2=5%[candidate]"},
		{split(rev("api-1", 100, "stable"), rev("api-1", 0, "blue"), rev("api-2", 0, "candidate")), "api-1=100%[blue,stable],api-2=0%[candidate]"},
		{split(rev("b", 50, ""), latest(50, "head")), "LATEST=50%[head],b=50%"},
		{split(rev("a", 30, ""), rev("a", 20, ""), rev("c", 50, "")), "a=50%,c=50%"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%v.String() = %q, want %q", tt.in.Targets, got, tt.want)
		}
	}
}

// randomSplit builds a valid split from r: a few revisions, percents
// summing to 100, some tags, maybe a tag-only Latest entry.
func randomSplit(r *rand.Rand) traffic.Split {
	n := 1 + r.IntN(5)
	var ts []traffic.Target
	left := 100
	tagN := 0
	for i := range n {
		p := r.IntN(left + 1)
		if i == n-1 {
			p = left
		}
		left -= p
		t := rev("r-"+string(rune('a'+r.IntN(4))), p, "")
		if r.IntN(3) == 0 {
			tagN++
			t.Tag = "t" + string(rune('0'+tagN))
		}
		ts = append(ts, t)
	}
	if r.IntN(4) == 0 {
		ts = append(ts, latest(0, "head"))
	}
	r.Shuffle(len(ts), func(i, j int) { ts[i], ts[j] = ts[j], ts[i] })
	return traffic.Split{Targets: ts, LatestRevision: "r-a"}
}

func TestAlgebraProperties(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		s := randomSplit(r)
		if err := traffic.Validate(s, ""); err != nil {
			t.Fatalf("case %d: generator made an invalid split %v: %v", i, s.Targets, err)
		}
		snap := s.Clone()

		// Routing to the current shares changes nothing.
		shares := traffic.Shares(s)
		delete(shares, "") // the tag-only Latest entry, if any, under LatestRevision="" never
		got, err := traffic.Route(s, positive(shares))
		if err != nil {
			t.Fatalf("case %d: Route(%v, own shares) = %v", i, s.Targets, err)
		}
		checkResult(t, s, snap, got)
		if !traffic.Equal(s, got) {
			t.Errorf("case %d: Route to own shares changed %v into %v", i, s, got)
		}

		// Normalize keeps the routing and is valid.
		norm := traffic.Normalize(s)
		checkResult(t, s, snap, norm)
		if !traffic.Equal(s, norm) || norm.String() != s.String() {
			t.Errorf("case %d: Normalize changed the routing of %v", i, s)
		}

		// Tags survive routing all traffic elsewhere.
		all, err := traffic.RouteAll(s, "r-z")
		if err != nil {
			t.Fatalf("case %d: RouteAll: %v", i, err)
		}
		checkResult(t, s, snap, all)
		for _, tg := range s.Targets {
			if tg.Tag == "" {
				continue
			}
			want, _ := traffic.TagOf(s, tg.Tag)
			if got, ok := traffic.TagOf(all, tg.Tag); !ok || got != want {
				t.Errorf("case %d: RouteAll lost tag %q (%q, %v; want %q)", i, tg.Tag, got, ok, want)
			}
		}

		// SetTag then RemoveTag of a fresh tag restores the routing.
		tagged, err := traffic.SetTag(s, "fresh", "r-b")
		if err != nil {
			t.Fatalf("case %d: SetTag: %v", i, err)
		}
		checkResult(t, s, snap, tagged)
		if back := traffic.RemoveTag(tagged, "fresh"); !traffic.Equal(s, back) {
			t.Errorf("case %d: SetTag+RemoveTag changed %v into %v", i, s, back)
		}
	}
}

func positive(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

// FuzzRoute routes random shares over random splits: Route never panics; it
// either fails with ErrInvalid or returns a valid split that gives every
// named revision exactly its share, every other revision 0, and keeps
// every tag of a valid input where it was.
func FuzzRoute(f *testing.F) {
	f.Add([]byte{6, 100, 0, 13, 6, 0, 1, 14}, []byte{0, 95, 1, 5}, "")     // 5% canary
	f.Add([]byte{6, 95, 0, 13, 6, 5, 1, 14}, []byte{0, 100}, "")           // promote... back
	f.Add([]byte{1, 100, 0, 0}, []byte{0, 100}, "")                        // unpinned LATEST
	f.Add([]byte{2, 100, 0, 0}, []byte{0, 50, 1, 50, 2, 0}, "")            // three revisions
	f.Add([]byte{2, 100, 0, 0}, []byte{255, 100}, "fuzzed-revision-name")  // fuzzer's own name
	f.Add([]byte{2, 100, 0, 0}, []byte{0, 156, 1, 200}, "")                // -100 and 200
	f.Add([]byte{6, 100, 0, 13, 5, 0, 0, 14}, []byte{1, 60, 2, 40}, "api") // tag on LATEST
	f.Fuzz(func(t *testing.T, splitData, shareData []byte, name string) {
		s := decodeSplit(splitData, name, "fuzz-tag")
		snap := s.Clone()
		percents := map[string]int{}
		for len(shareData) >= 2 && len(percents) < 8 {
			r := name
			if int(shareData[0]) < len(fuzzNames) {
				r = fuzzNames[shareData[0]]
			}
			percents[r] += int(int8(shareData[1]))
			shareData = shareData[2:]
		}
		psnap := maps.Clone(percents)
		got, err := traffic.Route(s, percents)
		if diff := cmp.Diff(psnap, percents); diff != "" {
			t.Fatalf("percents mutated:\n%s", diff)
		}
		if err != nil {
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Fatalf("Route error %v does not wrap ErrInvalid", err)
			}
			return
		}
		checkResult(t, s, snap, got)
		shares := traffic.Shares(traffic.Split{Targets: got.Targets}) // LATEST under ""
		for r, p := range shares {
			if r == "" {
				if p != 0 {
					t.Fatalf("LATEST keeps %d%% in %v", p, got.Targets)
				}
				continue
			}
			if p != percents[r] {
				t.Fatalf("share of %q = %d, want %d (percents %v, got %v)", r, p, percents[r], percents, got.Targets)
			}
		}
		for r, p := range percents {
			if shares[r] != p {
				t.Fatalf("share of %q = %d, want %d", r, shares[r], p)
			}
		}
		// Each revision with traffic has exactly one entry carrying it.
		carriers := map[string]int{}
		for _, tg := range got.Targets {
			if tg.Percent > 0 {
				carriers[tg.Revision]++
			}
			if tg.Percent == 0 && tg.Tag == "" {
				t.Fatalf("untagged 0%% entry left in %v", got.Targets)
			}
		}
		for r, n := range carriers {
			if n != 1 {
				t.Fatalf("revision %q has %d entries with traffic in %v", r, n, got.Targets)
			}
		}
		for _, tg := range s.Targets {
			if tg.Tag == "" {
				continue
			}
			want, _ := traffic.TagOf(s, tg.Tag)
			if r, ok := traffic.TagOf(got, tg.Tag); !ok || r != want {
				t.Fatalf("tag %q moved from %q to %q (%v)", tg.Tag, want, r, ok)
			}
		}
	})
}

func BenchmarkRoute(b *testing.B) {
	s := traffic.Split{Targets: []traffic.Target{
		rev("api-00001-aaa", 0, "previous"),
		rev("api-00002-abc", 95, "stable"),
		rev("api-00003-def", 5, "candidate"),
		latest(0, "head"),
	}}
	percents := map[string]int{"api-00002-abc": 75, "api-00003-def": 25}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := traffic.Route(s, percents); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkShift(b *testing.B) {
	s := traffic.Split{Targets: []traffic.Target{rev("api-00002-abc", 95, "stable"), rev("api-00003-def", 5, "candidate")}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := traffic.Shift(s, "api-00002-abc", "api-00003-def", 20); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNormalize(b *testing.B) {
	s := traffic.Split{Targets: []traffic.Target{rev("api-00002-abc", 95, "stable"), rev("api-00003-def", 5, "candidate"), latest(0, "head")}}
	b.ReportAllocs()
	for b.Loop() {
		_ = traffic.Normalize(s)
	}
}

func TestServing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   traffic.Split
		want map[string]int
	}{
		{traffic.Split{LatestRevision: "a-2"}, map[string]int{"a-2": 100}},
		{traffic.Split{Targets: []traffic.Target{{Latest: true, Percent: 100}, {Revision: "a-1", Tag: "prior"}}, LatestRevision: "a-2"}, map[string]int{"a-2": 100}},
		{traffic.Split{Targets: []traffic.Target{{Revision: "a-1", Percent: 95, Tag: "stable"}, {Revision: "a-2", Percent: 5}, {Revision: "a-2", Tag: "candidate"}, {Revision: "a-0", Tag: "old"}}}, map[string]int{"a-1": 95, "a-2": 5}},
	} {
		if diff := cmp.Diff(tc.want, traffic.Serving(tc.in)); diff != "" {
			t.Errorf("Serving(%s) mismatch (-want +got):\n%s", tc.in, diff)
		}
	}
}
