package ghactions

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage/pipeline"
)

func TestFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env                  map[string]string
		command, branch, tag string
	}{
		{map[string]string{"GITHUB_REF": "refs/heads/main"}, "dev", "main", ""},
		{map[string]string{"GITHUB_REF": "refs/tags/v1.4.2"}, "release", "", "v1.4.2"},
		{map[string]string{"GITHUB_REF": "refs/pull/1/merge"}, "", "", ""},
		{map[string]string{}, "", "", ""},
	}
	for _, tt := range tests {
		e := FromEnv(func(k string) string { return tt.env[k] })
		if e.Command() != tt.command || e.Branch() != tt.branch || e.Tag() != tt.tag {
			t.Errorf("FromEnv(%v): command %q branch %q tag %q, want %q %q %q", tt.env, e.Command(), e.Branch(), e.Tag(), tt.command, tt.branch, tt.tag)
		}
	}
	e := FromEnv(func(k string) string {
		return map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_SHA": "ABC", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "7", "ACTIONS_ID_TOKEN_REQUEST_URL": "x"}[k]
	})
	if !e.Actions || !e.OIDC || e.SHA != "abc" || e.RunURL != "https://github.com/o/r/actions/runs/7" {
		t.Errorf("FromEnv = %+v", e)
	}
}

func TestWriteOutputs(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "out")
	if err := WriteOutputs(f, map[string]string{"b": "two\nlines", "a": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := WriteOutputs(f, map[string]string{"c": "3"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(f)
	got := parseOutputs(t, string(b))
	if diff := cmp.Diff(map[string]string{"a": "1", "b": "two\nlines", "c": "3"}, got); diff != "" {
		t.Errorf("outputs mismatch (-want +got):\n%s", diff)
	}
}

// parseOutputs reads NAME<<DELIM blocks as the runner does.
func parseOutputs(t *testing.T, s string) map[string]string {
	out := map[string]string{}
	lines := strings.Split(s, "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] == "" {
			continue
		}
		name, delim, ok := strings.Cut(lines[i], "<<")
		if !ok {
			t.Fatalf("line %q is not NAME<<DELIM", lines[i])
		}
		var v []string
		for i++; lines[i] != delim; i++ {
			v = append(v, lines[i])
		}
		out[name] = strings.Join(v, "\n")
	}
	return out
}

func TestAnnotations(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	Group(&b, "deploy 100%")
	Error(&b, "twostage: promote", "line1\nline2 50%")
	EndGroup(&b)
	want := "::group::deploy 100%25\n::error title=twostage%3A promote::line1%0Aline2 50%25\n::endgroup::\n"
	if b.String() != want {
		t.Errorf("annotations = %q, want %q", b.String(), want)
	}
}

func TestParseShares(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want map[string]int
		ok   bool
	}{
		{"api-1=95%[prior,stable],api-2=5%[candidate]", map[string]int{"api-1": 95, "api-2": 5}, true},
		{"LATEST=100%", map[string]int{"LATEST": 100}, true},
		{"a=100%,b=0%[candidate]", map[string]int{"a": 100, "b": 0}, true},
		{"a=100", nil, false},
		{"a=100%,", nil, false},
		{"a=100%[x", nil, false},
		{"=5%", nil, false},
		{"a=101%", nil, false},
	}
	for _, tt := range tests {
		got, ok := ParseShares(tt.in)
		if ok != tt.ok || (ok && !cmp.Equal(tt.want, got)) {
			t.Errorf("ParseShares(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseShares(f *testing.F) {
	for _, s := range []string{"api-1=95%[prior,stable],api-2=5%[candidate]", "LATEST=100%", "a=1%,", "a=%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, ok := ParseShares(s)
		if !ok {
			return
		}
		for k, v := range m {
			if k == "" || v < 0 || strings.ContainsAny(k, ",[]%") {
				t.Fatalf("ParseShares(%q) = %v", s, m)
			}
		}
	})
}

func TestSummaryAndChart(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	events := []pipeline.AuditEvent{
		{Time: at, Action: pipeline.ActionStep, Stage: "prod", Revision: "b", Step: 1, Percent: 5, Before: "a=100%[stable],b=0%[candidate]", After: "a=95%[stable],b=5%[candidate]", Decision: "advanced"},
		{Time: at, Action: pipeline.ActionGate, Stage: "prod", Revision: "b", Step: 1, Percent: 5, Decision: "fail", Reason: "threshold fail: 20% | errors"},
		{Time: at, Action: pipeline.ActionRollback, Stage: "prod", Revision: "b", Step: 1, Percent: 5, Before: "a=95%,b=5%", After: "a=100%[stable],b=0%[candidate]", Decision: "rolled back"},
	}
	got := Summary("twostage promote", events)
	for _, want := range []string{
		"| 09:00:00 | promote.step | prod | `b` | advanced | `a=95%[stable],b=5%[candidate]` | step 1 (5%):",
		`threshold fail: 20% \| errors`,
		"    x-axis [\"before\", \"step 1\", \"rollback\"]\n",
		"    line [100, 95, 100]\n    line [0, 5, 0]\n",
		"1. `a`, 2. `b`",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Summary lacks %q:\n%s", want, got)
		}
	}
	if Chart(events[1:2]) != "" {
		t.Error("Chart of events without traffic is not empty")
	}
}
