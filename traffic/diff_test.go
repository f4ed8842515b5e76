package traffic_test

import (
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage/traffic"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/diff")

func TestDiffGolden(t *testing.T) {
	t.Parallel()
	stable := traffic.Split{Targets: []traffic.Target{rev("api-00002-abc", 100, "stable")}, LatestRevision: "api-00002-abc"}
	deployed := traffic.Split{Targets: []traffic.Target{rev("api-00002-abc", 100, "stable"), rev("api-00003-def", 0, "candidate")}, LatestRevision: "api-00003-def"}
	canary := traffic.Split{Targets: []traffic.Target{rev("api-00002-abc", 95, "stable"), rev("api-00003-def", 5, "candidate")}, LatestRevision: "api-00003-def"}
	promoted := traffic.Split{Targets: []traffic.Target{rev("api-00002-abc", 0, "previous"), rev("api-00003-def", 100, "stable")}, LatestRevision: "api-00003-def"}
	tests := []struct {
		name          string
		before, after traffic.Split
	}{
		{"no_change", canary, traffic.Split{Targets: []traffic.Target{rev("api-00003-def", 5, "candidate"), rev("api-00002-abc", 95, ""), rev("api-00002-abc", 0, "stable")}, Version: "other"}},
		{"deploy_no_traffic", stable, deployed},
		{"canary_5", deployed, canary},
		{"promote", canary, promoted},
		{"rollback", canary, mustRouteAll(t, canary, "api-00002-abc")},
		{"pin_fresh_service", traffic.Split{LatestRevision: "api-00001-aaa"}, mustPin(t, traffic.Split{}, "api-00001-aaa")},
		{"latest_unknown", traffic.Split{}, traffic.Split{Targets: []traffic.Target{rev("api-1", 100, "")}}},
		{"three_way", traffic.Split{Targets: []traffic.Target{rev("a", 50, "x"), rev("bb", 50, "")}}, traffic.Split{Targets: []traffic.Target{rev("bb", 10, "x"), rev("ccc", 90, "y")}}},
		{"tag_moves_only", traffic.Split{Targets: []traffic.Target{rev("api-1", 100, "stable"), rev("api-2", 0, "")}}, traffic.Split{Targets: []traffic.Target{rev("api-1", 100, ""), rev("api-2", 0, "stable")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := traffic.Diff(tt.before, tt.after)
			path := filepath.Join("testdata", "diff", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden file (run go test -run TestDiffGolden -update ./traffic to create it): %v", err)
			}
			want := strings.TrimSuffix(string(b), "\n")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Diff(%v, %v) mismatch (-want +got):\n%s", tt.before, tt.after, diff)
			}
			if again := traffic.Diff(tt.before, tt.after); again != got {
				t.Errorf("Diff is not deterministic: %q then %q", got, again)
			}
		})
	}
}

func mustRouteAll(t *testing.T, s traffic.Split, r string) traffic.Split {
	t.Helper()
	out, err := traffic.RouteAll(s, r)
	if err != nil {
		t.Fatalf("RouteAll(%v, %q) = %v", s.Targets, r, err)
	}
	return out
}

// TestDiffLines checks the properties every Diff output keeps, on random
// splits: "no change" exactly when Equal, one line per destination, the
// arrow column aligned, no trailing spaces.
func TestDiffLines(t *testing.T) {
	t.Parallel()
	r := newRand()
	for i := range 500 {
		a, b := randomSplit(r), randomSplit(r)
		got := traffic.Diff(a, b)
		if traffic.Equal(a, b) != (got == "no change") {
			t.Fatalf("case %d: Equal=%v but Diff=%q", i, traffic.Equal(a, b), got)
		}
		if got == "no change" {
			continue
		}
		lines := strings.Split(got, "\n")
		names := map[string]bool{}
		for _, s := range []traffic.Split{a, b} {
			for _, tg := range s.Targets {
				if tg.Latest {
					names["LATEST"] = true
				} else if tg.Percent > 0 || tg.Tag != "" {
					names[tg.Revision] = true
				}
			}
		}
		if len(lines) != len(names) {
			t.Errorf("case %d: %d lines for %d destinations:\n%s", i, len(lines), len(names), got)
		}
		arrow := -1
		for _, l := range lines {
			if strings.HasSuffix(l, " ") {
				t.Errorf("case %d: trailing space in %q", i, l)
			}
			at := strings.Index(l, "→")
			if arrow >= 0 && at != arrow {
				t.Errorf("case %d: arrows not aligned:\n%s", i, got)
				break
			}
			arrow = at
		}
	}
}

func newRand() *rand.Rand { return rand.New(rand.NewPCG(3, 4)) }

func BenchmarkDiff(b *testing.B) {
	before := traffic.Split{Targets: []traffic.Target{rev("api-00001-aaa", 0, "previous"), rev("api-00002-abc", 95, "stable"), rev("api-00003-def", 5, "candidate")}}
	after := traffic.Split{Targets: []traffic.Target{rev("api-00002-abc", 75, "stable"), rev("api-00003-def", 25, "candidate")}}
	b.ReportAllocs()
	for b.Loop() {
		_ = traffic.Diff(before, after)
	}
}

func BenchmarkString(b *testing.B) {
	s := traffic.Split{Targets: []traffic.Target{rev("api-00002-abc", 95, "stable"), rev("api-00003-def", 5, "candidate")}}
	b.ReportAllocs()
	for b.Loop() {
		_ = s.String()
	}
}
