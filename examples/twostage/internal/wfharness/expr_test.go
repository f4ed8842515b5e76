package wfharness

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCondition(t *testing.T) {
	t.Parallel()
	e := &evaluator{ctx: map[string]any{
		"github": map[string]any{"event_name": "schedule", "ref": "refs/tags/v1.2.3"},
		"inputs": map[string]any{"action": "Next"},
		"needs":  map[string]any{"decide": map[string]any{"result": "skipped"}},
	}}
	for _, tt := range []struct {
		cond string
		want bool
	}{
		{"", true},
		{"github.event_name == 'schedule'", true},
		{"inputs.action == 'next'", true}, // strings compare case-insensitively
		{"inputs.action == 'full' || inputs.action == 'next'", true},
		{"inputs.missing == ''", true}, // a missing value is null, equal to ''
		{"${{ !cancelled() && (github.event_name == 'schedule' || needs.decide.result == 'success') }}", true},
		{"startsWith(github.ref, 'refs/tags/')", true},
		{"contains(github.ref, 'v2')", false},
		{"failure()", false},
	} {
		got, err := e.condition(tt.cond)
		if err != nil || got != tt.want {
			t.Errorf("condition(%q) = %v, %v; want %v", tt.cond, got, err, tt.want)
		}
	}
	e.status.failed = true
	if got, _ := e.condition("github.event_name == 'schedule'"); got {
		t.Error("a step after a failure runs without a status function")
	}
}

func TestInterpolateAndOutputs(t *testing.T) {
	t.Parallel()
	e := &evaluator{ctx: map[string]any{"steps": map[string]any{"login": map[string]any{"outputs": map[string]any{"image": "host/p/r/api"}}}, "github": map[string]any{"sha": "abc"}}}
	got, err := e.interpolate("${{ steps.login.outputs.image }}:${{ github.sha }}")
	if err != nil || got != "host/p/r/api:abc" {
		t.Errorf("interpolate = %q, %v", got, err)
	}
	f := filepath.Join(t.TempDir(), "out")
	os.WriteFile(f, []byte("a=1\nmulti<<EOF\nx\ny\nEOF\n"), 0o644)
	outs, err := readOutputs(f)
	if err != nil || outs["a"] != "1" || outs["multi"] != "x\ny" {
		t.Errorf("readOutputs = %v, %v", outs, err)
	}
}
