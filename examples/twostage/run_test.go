package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/traffic"
)

func TestExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("boom"), 1},
		{usagef("bad flag"), 2},
		{fmt.Errorf("x: %w", twostage.ErrPolicy), 3},
		{fmt.Errorf("promote: %w", &traffic.RolloutError{Err: traffic.ErrRolledBack}), 4},
		{fmt.Errorf("promote: %w", &traffic.RolloutError{Err: traffic.ErrPaused}), 5},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// runIn runs the CLI in-process.
func runIn(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestRunInProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("project: my-project\nregoin: x\n"), 0o644)
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantOut  string // substring of stdout+stderr
	}{
		{"no command", nil, nil, 2, "usage: twostage"},
		{"unknown command", nil, []string{"deploy"}, 2, `unknown command "deploy"`},
		{"help", nil, []string{"help"}, 0, "exit codes"},
		{"version", nil, []string{"version", "--json"}, 0, `"version":`},
		{"bad flag", nil, []string{"status", "--nope"}, 2, "flag provided but not defined"},
		{"config error with line", nil, []string{"status", "--config", bad}, 1, "bad.yaml:2:1: unknown key \"regoin\""},
		{"missing config", nil, []string{"status", "--config", filepath.Join(dir, "none.yaml")}, 1, "twostage init"},
		{"virtual time needs the emulator", nil, []string{"promote", "--virtual-time", "--config", "../../nonexistent.yaml"}, 1, "twostage init"},
		{"annotation in CI", map[string]string{"GITHUB_ACTIONS": "true"}, []string{"status", "--config", bad}, 1, "::error title=twostage status::"},
		{"exclusive images", nil, []string{"dev", "--image-dir", "a", "--image-tar", "b"}, 2, "exclusive"},
		{"manual value", nil, []string{"promote", "--manual", "half"}, 2, "use next or full"},
		{"wif subcommand", nil, []string{"wif"}, 2, "subcommand"},
		{"release without tag", nil, []string{"release"}, 2, "no tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runIn(t, tt.env, tt.args...)
			if code != tt.wantCode || !strings.Contains(out+errOut, tt.wantOut) {
				t.Errorf("twostage %v = %d\nstdout: %s\nstderr: %s\nwant exit %d and %q", tt.args, code, out, errOut, tt.wantCode, tt.wantOut)
			}
		})
	}
}

func TestJSONOnError(t *testing.T) {
	t.Parallel()
	code, out, _ := runIn(t, nil, "status", "--json", "--config", filepath.Join(t.TempDir(), "none.yaml"))
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 1 || r["exitCode"] != float64(1) || !strings.Contains(fmt.Sprint(r["error"]), "twostage init") {
		t.Errorf("status --json on a missing config = %d %s (%v)", code, out, err)
	}
}

// TestEmulatorCommand starts the local-play emulators, reads the export
// line and stops them by cancelling the context.
func TestEmulatorCommand(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"emulator"}, func(string) string { return "" }, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	// The one address serves the endpoint discovery the CLI's backend uses.
	addr := strings.TrimSpace(strings.TrimPrefix(line, "export TWOSTAGE_EMULATOR_HOST="))
	resp, err := http.Get("http://" + addr + "/v1/endpoints")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "artifactregistry") {
		t.Errorf("GET /v1/endpoints = %d %s", resp.StatusCode, body)
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if code := <-done; code != 0 {
		t.Errorf("emulator exited %d", code)
	}
	if !regexp.MustCompile(`^export TWOSTAGE_EMULATOR_HOST=127\.0\.0\.1:\d+\n$`).MatchString(line) {
		t.Errorf("emulator printed %q", line)
	}
}
