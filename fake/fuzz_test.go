package fake

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/twostage/twostage/internal/names"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// FuzzValidateLabels checks validateLabels against a regular-expression
// statement of the same rules.
func FuzzValidateLabels(f *testing.F) {
	for _, s := range [][2]string{
		{"team", "pay"}, {"managed-by", "twostage"}, {"empty", ""}, {"Team", "x"},
		{"run.googleapis.com/x", "y"}, {"a.serving.knative.dev/b", ""}, {"k", "v.1"},
		{strings.Repeat("k", 63), strings.Repeat("v", 63)}, {strings.Repeat("k", 64), ""}, {"k_1-2", "-_"},
	} {
		f.Add(s[0], s[1])
	}
	key := regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	value := regexp.MustCompile(`^[a-z0-9_-]{0,63}$`)
	f.Fuzz(func(t *testing.T, k, v string) {
		err := validateLabels(map[string]string{k: v})
		want := key.MatchString(k) && value.MatchString(v)
		if (err == nil) != want {
			t.Fatalf("validateLabels(%q: %q) = %v, want valid=%v", k, v, err, want)
		}
		if err != nil && !errors.Is(err, twostage.ErrInvalid) {
			t.Fatalf("validateLabels(%q: %q) = %v, want ErrInvalid", k, v, err)
		}
		if err != nil && !strings.Contains(err.Error(), strings.ToValidUTF8(k, "\uFFFD")) && !strings.Contains(err.Error(), "label") {
			t.Fatalf("error %q does not name the label", err)
		}
	})
}

// FuzzDeploy deploys fuzzed releases onto a service with one revision and
// checks the invariants every outcome must keep.
func FuzzDeploy(f *testing.F) {
	f.Add("b", "candidate", "team", "pay", false, "a")
	f.Add("api-b", "", "", "", true, "a")
	f.Add("a", "", "", "", true, "b")
	f.Add("", "dev", "", "", true, "a")
	f.Add("v1.4.2", "stable", "run.googleapis.com/x", "y", false, "a")
	f.Add(strings.Repeat("x", 60), strings.Repeat("t", 44), "Team", "x", false, "a")
	f.Fuzz(func(t *testing.T, rev, tag, lk, lv string, all bool, digit string) {
		ctx := context.Background()
		s := NewService("api")
		mustDeploy(t, s, rel("a", stage.RouteAll, "stable"))
		before := s.Snapshot()
		r := stage.Release{Artifact: art("a"), Revision: rev, Traffic: stage.RouteNone}
		if len(digit) == 1 {
			r.Artifact.Digest = "sha256:" + strings.Repeat(digit, 64)
		}
		if all {
			r.Traffic = stage.RouteAll
		}
		if tag != "" {
			r.Tags = []string{tag}
		}
		if lk != "" {
			r.Labels = map[string]string{lk: lv}
		}
		got, err := s.Deploy(ctx, r)
		after := s.Snapshot()
		if err := traffic.Validate(after.Split, "api"); err != nil {
			t.Fatalf("the split became invalid: %v", err)
		}
		if err != nil {
			if !errors.Is(err, twostage.ErrInvalid) && !errors.Is(err, twostage.ErrConflict) {
				t.Fatalf("Deploy(%+v) = %v, want ErrInvalid or ErrConflict", r, err)
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Fatalf("a refused deploy changed the service (-before +after):\n%s", diff)
			}
			return
		}
		if !strings.HasPrefix(got.Name, "api-") || !names.DNSLabel(got.Name) {
			t.Fatalf("Deploy named the revision %q", got.Name)
		}
		if after.Split.LatestRevision != got.Name {
			t.Fatalf("LatestRevision = %q, want %q", after.Split.LatestRevision, got.Name)
		}
		changed := len(after.Revisions) != len(before.Revisions) ||
			after.Split.LatestRevision != before.Split.LatestRevision ||
			!cmp.Equal(after.Split.Targets, before.Split.Targets)
		if wantGen := before.Generation + map[bool]int64{false: 0, true: 1}[changed]; after.Generation != wantGen {
			t.Fatalf("Generation = %d, want %d (changed: %v)", after.Generation, wantGen, changed)
		}
		if after.Split.Version == before.Split.Version {
			t.Fatalf("a successful deploy kept version %q", after.Split.Version)
		}
		if tag != "" && got.TagURLs[tag] == "" {
			t.Fatalf("the new revision has no URL for tag %q: %v", tag, got.TagURLs)
		}
		// Who serves traffic: RouteNone keeps api-a at 100%, RouteAll moves
		// everything to the new revision.
		served := map[string]int{}
		for _, tg := range after.Split.Targets {
			name := tg.Revision
			if tg.Latest {
				name = after.Split.LatestRevision
			}
			served[name] += tg.Percent
		}
		want := map[string]int{got.Name: 100}
		if !all {
			want = map[string]int{"api-a": 100}
			if got.Name != "api-a" {
				want[got.Name] = 0
			}
		}
		for k, v := range served {
			if v == 0 {
				delete(served, k)
			}
		}
		for k, v := range want {
			if v == 0 {
				delete(want, k)
			}
		}
		if diff := cmp.Diff(want, served); diff != "" {
			t.Fatalf("traffic served mismatch (-want +got):\n%s", diff)
		}
	})
}

// FuzzSetSplit writes fuzzed two-target splits and checks that accepted
// ones are valid and refused ones change nothing.
func FuzzSetSplit(f *testing.F) {
	f.Add("api-a", 90, "stable", "api-b", 10, "candidate", false)
	f.Add("api-a", 100, "", "api-c", 0, "broken", false)
	f.Add("api-a", 90, "", "api-c", 10, "", false)
	f.Add("", 50, "", "api-zzz", 50, "", true)
	f.Add("api-a", 100, "x", "api-b", 0, "x", false)
	f.Add("api-a", -1, "", "api-b", 101, "", false)
	f.Fuzz(func(t *testing.T, r1 string, p1 int, t1, r2 string, p2 int, t2 string, latest bool) {
		ctx := context.Background()
		s := NewService("api")
		mustDeploy(t, s, rel("a", stage.RouteAll))
		mustDeploy(t, s, rel("b", stage.RouteNone, "candidate"))
		s.FailRevision("c", "boom")
		_, _ = s.Deploy(ctx, rel("c", stage.RouteNone))
		before := s.Snapshot()
		sp := traffic.Split{Version: before.Split.Version, Targets: []traffic.Target{
			{Revision: r1, Latest: latest, Percent: p1, Tag: t1},
			{Revision: r2, Percent: p2, Tag: t2},
		}}
		got, err := s.SetSplit(ctx, sp)
		if err != nil {
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Fatalf("SetSplit(%v) = %v, want ErrInvalid", sp.Targets, err)
			}
			if diff := cmp.Diff(before, s.Snapshot()); diff != "" {
				t.Fatalf("a refused SetSplit changed the service (-before +after):\n%s", diff)
			}
			return
		}
		if err := traffic.Validate(got, "api"); err != nil {
			t.Fatalf("SetSplit accepted an invalid split: %v", err)
		}
		for _, tg := range got.Targets {
			if tg.Latest {
				continue
			}
			var rev *stage.Revision
			for _, r := range before.Revisions {
				if r.Name == tg.Revision {
					rev = &r
				}
			}
			if rev == nil || (tg.Percent > 0 && !rev.Ready) {
				t.Fatalf("SetSplit accepted target %+v (revision %v)", tg, rev)
			}
		}
		if diff := cmp.Diff(sp.Targets, got.Targets); diff != "" {
			t.Fatalf("stored targets mismatch (-written +stored):\n%s", diff)
		}
	})
}
