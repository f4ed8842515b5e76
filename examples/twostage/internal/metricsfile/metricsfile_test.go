package metricsfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/traffic/analysis"
)

func TestLookup(t *testing.T) {
	t.Parallel()
	f, err := Parse([]byte(`{"revisions": {"*": {"rps": 1}, "api-v1-*": {"rps": 2}, "api-v1-1-*": {"rps": 3}, "api-v1-1-0-abc": {"rps": 4}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for rev, want := range map[string]float64{"other": 1, "api-v1-2-0-x": 2, "api-v1-1-0-x": 3, "api-v1-1-0-abc": 4} {
		if got, ok := f.Lookup("", rev); !ok || got.RPS != want {
			t.Errorf("Lookup(%q) = %v, %v; want rps %v", rev, got, ok, want)
		}
	}
	f, err = Parse([]byte(`{"revisions": {"*": {"rps": 1}, "eu/api-*": {"rps": 2}, "eu/api-x": {"rps": 3}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		region, rev string
		want        float64
	}{{"eu", "api-y", 2}, {"eu", "api-x", 3}, {"us", "api-x", 1}, {"", "api-x", 1}, {"eu", "web", 1}} {
		if got, _ := f.Lookup(tt.region, tt.rev); got.RPS != tt.want {
			t.Errorf("Lookup(%q, %q) = %v, want rps %v", tt.region, tt.rev, got, tt.want)
		}
	}
	if _, ok := (File{}).Lookup("", "x"); ok {
		t.Error("Lookup in an empty file found something")
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`{"revisions": {"a": {"rps": -1}}}`, `{"revisions": {"a": {"error-rate": 2}}}`, `{"revisions": {"[": {}}}`, `{"revs": {}}`, `{} {}`, `nope`} {
		if _, err := Parse([]byte(in)); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("Parse(%s) = %v, want ErrInvalid", in, err)
		}
	}
}

func TestCounts(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "traffic.json")
	os.WriteFile(p, []byte(`{"revisions": {"good": {"rps": 20, "error-rate": 0.001}, "bad": {"rps": 20, "error-rate": 0.2}}}`), 0o644)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got, err := Source{Path: p}.Counts(context.Background(), analysis.Query{Revisions: []string{"good", "bad", "none"}, Start: start, End: start.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	want := analysis.Counts{Through: start.Add(time.Minute), Revisions: map[string]analysis.Count{
		"good": {Requests: 1200, Errors: 1}, "bad": {Requests: 1200, Errors: 240}, "none": {},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Counts mismatch (-want +got):\n%s", diff)
	}
	if _, err := (Source{Path: p}).Counts(context.Background(), analysis.Query{}); !errors.Is(err, analysis.ErrNoRevisions) {
		t.Errorf("Counts of no revisions = %v, want ErrNoRevisions", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"revisions": {"*": {"rps": 20, "error-rate": 0.001}}}`))
	f.Add([]byte(`{"revisions": {"[": {}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		for k, tr := range file.Revisions {
			c := tr.Count(3600)
			if c.Errors > c.Requests || c.Requests < 0 {
				t.Fatalf("%q: Count = %+v", k, c)
			}
			if c2 := tr.Count(7200); c2.Requests < c.Requests || c2.Errors < c.Errors {
				t.Fatalf("%q: counts not cumulative: %+v then %+v", k, c, c2)
			}
		}
	})
}
