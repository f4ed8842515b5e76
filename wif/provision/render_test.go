package provision_test

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage/wif/provision"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/setup")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "setup", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test -run %s -update to create it): %v", t.Name(), err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

func renderSetups() map[string]provision.Setup {
	public := testConfig()
	public.PublicInvoker = true
	cond := fullSetup()
	cond.Bindings = append(cond.Bindings, provision.Binding{
		Resource:  provision.ProjectResource("my-proj"),
		Role:      "roles/logging.viewer",
		Member:    "principalSet://" + poolBase + "attribute.stage/prod",
		Condition: &provision.Expr{Title: "until 2030", Description: "temporary, for \"debugging\"", Expression: `request.time < timestamp("2030-01-01T00:00:00Z")`},
	})
	cond.Provider.AllowedAudiences = []string{"https://github.com/octo-org", "sts.googleapis.com"}
	// A comma in a mapping makes gcloud need its ^DELIM^ escape.
	cond.Provider.AttributeMapping["attribute.trigger"] = "assertion.event_name in ['push', 'workflow_dispatch'] ? 'ok' : 'no'"
	return map[string]provision.Setup{
		"github":      testSetup(),
		"public":      mustSetup(public),
		"conditional": cond,
		"seed":        seedSetup(),
	}
}

func TestRenderGcloud(t *testing.T) {
	t.Parallel()
	for name, s := range renderSetups() {
		t.Run(name, func(t *testing.T) {
			got := provision.RenderGcloud(s)
			golden(t, name+".gcloud.sh", got)
			for _, want := range []string{
				"gcloud iam workload-identity-pools create " + s.Pool.ID,
				"gcloud iam workload-identity-pools providers create-oidc " + s.Provider.ID,
				"--attribute-mapping=",
			} {
				if !strings.Contains(got, want) {
					t.Errorf("script lacks %q", want)
				}
			}
			if n := strings.Count(got, "add-iam-policy-binding"); n != len(s.Bindings) {
				t.Errorf("script has %d add-iam-policy-binding commands, want %d", n, len(s.Bindings))
			}
		})
	}
}

func TestRenderTerraform(t *testing.T) {
	t.Parallel()
	for name, s := range renderSetups() {
		t.Run(name, func(t *testing.T) {
			got := provision.RenderTerraform(s)
			golden(t, name+".tf", got)
			if n := strings.Count(got, "_iam_member\" "); n != len(s.Bindings) {
				t.Errorf("terraform has %d *_iam_member resources, want %d", n, len(s.Bindings))
			}
			if strings.Count(got, "{") != strings.Count(got, "}") {
				t.Error("unbalanced braces")
			}
		})
	}
}

// TestRenderGcloudQuoting runs the rendered scripts under bash with a fake
// gcloud that records its arguments, and checks that the shell hands
// gcloud exactly the declared mapping, condition and members.
func TestRenderGcloudQuoting(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	for name, s := range renderSetups() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			out := filepath.Join(dir, "args")
			fakeGcloud := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done >> " + out + "\nprintf '\\1\\0' >> " + out + "\n"
			if err := os.WriteFile(filepath.Join(dir, "gcloud"), []byte(fakeGcloud), 0o755); err != nil {
				t.Fatal(err)
			}
			script := filepath.Join(dir, "setup.sh")
			if err := os.WriteFile(script, []byte(provision.RenderGcloud(s)), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bash, script)
			cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin"}
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("running the script: %v\n%s", err, b)
			}
			raw, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var mapping, condition string
			var members []string
			for _, a := range strings.Split(string(raw), "\x00") {
				switch {
				case strings.HasPrefix(a, "--attribute-mapping="):
					mapping = strings.TrimPrefix(a, "--attribute-mapping=")
				case strings.HasPrefix(a, "--attribute-condition="):
					condition = strings.TrimPrefix(a, "--attribute-condition=")
				case strings.HasPrefix(a, "--member="):
					members = append(members, strings.TrimPrefix(a, "--member="))
				}
			}
			if condition != s.Provider.AttributeCondition {
				t.Errorf("gcloud got condition %q, want %q", condition, s.Provider.AttributeCondition)
			}
			if diff := cmp.Diff(s.Provider.AttributeMapping, parseGcloudDict(mapping)); diff != "" {
				t.Errorf("gcloud got mapping mismatch (-want +got):\n%s", diff)
			}
			var want []string
			for _, b := range s.Bindings {
				want = append(want, b.Member)
			}
			if diff := cmp.Diff(want, members); diff != "" {
				t.Errorf("members mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// parseGcloudDict parses KEY=VALUE,… with gcloud's ^DELIM^ escape.
func parseGcloudDict(s string) map[string]string {
	sep := ","
	if strings.HasPrefix(s, "^") {
		if end := strings.Index(s[1:], "^"); end >= 0 {
			sep, s = s[1:1+end], s[2+end:]
		}
	}
	out := map[string]string{}
	for _, kv := range strings.Split(s, sep) {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}
