package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/pipeline"
)

const valid = `project: my-project
project-number: "123456789012"
region: us-central1
registry:
  repository: apps
  image: api
services:
  dev: api-dev
  prod: api
release:
  signed-tags: true
rollout:
  steps:
    - percent: 5
      bake: 2m
    - percent: 100
  gates:
    - type: threshold
      max-error-rate: 0.05
  metrics:
    source: file
    file: metrics.json
`

func TestParseValid(t *testing.T) {
	t.Parallel()
	c, err := Parse("twostage.yaml", []byte(valid))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	rate := 0.05
	want := &Config{
		Project: "my-project", ProjectNumber: "123456789012", Region: "us-central1",
		Registry: Registry{Location: "us-central1", Repository: "apps", Image: "api"},
		Services: Services{Dev: "api-dev", Prod: "api"},
		Branch:   "main",
		Release:  Release{TagPattern: pipeline.SemverTag, SignedTags: true, AwaitTimeout: Duration(30 * time.Minute)},
		Rollout: Rollout{
			Steps:        []Step{{Percent: 5, Bake: Duration(2 * time.Minute)}, {Percent: 100}},
			GateInterval: Duration(30 * time.Second),
			Gates:        []Gate{{Type: GateThreshold, MaxErrorRate: &rate}},
			Metrics:      Metrics{Source: MetricsFile, File: "metrics.json"},
		},
		WIF: WIF{Pool: "github", Provider: "github-actions"},
	}
	if diff := cmp.Diff(want, c, cmpopts.IgnoreUnexported(Config{})); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
	if got, want := c.RepositoryName(), "projects/my-project/locations/us-central1/repositories/apps"; got != want {
		t.Errorf("RepositoryName = %q, want %q", got, want)
	}
	if got, want := c.Plan().String(), "5% → 100%"; got != want {
		t.Errorf("Plan = %q, want %q", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	base := "project: my-project\nregion: us-central1\nregistry:\n  repository: apps\n  image: api\nservices:\n  dev: api-dev\n  prod: api\n"
	tests := []struct {
		name string
		yaml string
		want []string // substrings, each must appear
	}{
		{"unknown key with suggestion", base + "release:\n  tag_pattern: x\n", []string{"twostage.yaml:10:3:", `unknown key "tag_pattern" in release`, `did you mean "tag-pattern"?`}},
		{"unknown top key", base + "regoin: x\n", []string{"twostage.yaml:9:1:", `unknown key "regoin"`}},
		{"wrong type", base + "rollout:\n  steps:\n    - percent: five\n      bake: 1m\n    - percent: 100\n", []string{"twostage.yaml:11:", "cannot unmarshal", "check the value's type"}},
		{"bad duration", base + "rollout:\n  steps:\n    - percent: 5\n      bake: 5 minutes\n    - percent: 100\n", []string{"twostage.yaml:12:", `"5 minutes" is not a duration`}},
		{"first step too big", base + "rollout:\n  steps:\n    - percent: 50\n    - percent: 100\n", []string{"twostage.yaml:11:7:", "step 1: percent 50 is above 5"}},
		{"missing project", strings.Replace(base, "project: my-project\n", "", 1), []string{"twostage.yaml: project is missing"}},
		{"bad region", strings.Replace(base, "us-central1", "Moon", 1), []string{"twostage.yaml:2:9:", `region "Moon"`}},
		{"duplicate key", base + "branch: main\nbranch: dev\n", []string{"twostage.yaml:10:1:", `key "branch" appears twice`}},
		{"same services", strings.Replace(base, "dev: api-dev", "dev: api", 1), []string{"twostage.yaml:8:9:", "both \"api\""}},
		{"bad gate type", base + "rollout:\n  gates:\n    - type: magic\n", []string{"twostage.yaml:11:13:", `gate type "magic"`}},
		{"file metrics without file", base + "rollout:\n  gates:\n    - type: threshold\n  metrics:\n    source: file\n", []string{"rollout.metrics.file is missing"}},
		{"alias", base + "x: &a 1\nbranch: *a\n", []string{"unknown key \"x\""}},
		{"not a mapping", "- a\n- b\n", []string{"twostage.yaml:1:1:", "must be a mapping"}},
		{"empty", "", []string{"file is empty"}},
		{"scalar for mapping", base + "rollout: fast\n", []string{"twostage.yaml:9:10:", "rollout must be a mapping"}},
		{"two documents", base + "---\nproject: x\n", []string{"a second YAML document"}},
		{"syntax", "project: [\n", []string{"twostage.yaml:"}},
		{"signers without signing", base + "release:\n  allowed-signers: .github/allowed_signers\n", []string{"signed-tags is false"}},
		{"bad tag pattern", base + "release:\n  tag-pattern: \"v[\"\n", []string{"twostage.yaml:10:16:", "does not compile"}},
		{"bad repository id", base + "wif:\n  repository-id: abc\n", []string{"not numeric"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("twostage.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded, want an error containing %q", tt.want)
			}
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Errorf("Parse error %v does not wrap twostage.ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse error:\n%v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	t.Parallel()
	_, err := Load(t.TempDir() + "/twostage.yaml")
	if err == nil || !strings.Contains(err.Error(), "twostage init") || !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("Load of a missing file = %v, want ErrInvalid naming `twostage init`", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte("project: [\n"))
	f.Add([]byte("rollout:\n  steps:\n    - percent: 5\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err != nil {
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Fatalf("Parse error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := c.Plan().Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid plan: %v", err)
		}
		if c.Project == "" || c.Services.Dev == "" || c.Services.Prod == "" || c.Registry.Image == "" {
			t.Fatalf("Parse accepted a config missing required fields: %+v", c)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("twostage.yaml", []byte(valid)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestIndentationLine: an indentation mistake is reported at its own line,
// not at the start of the block around it (issue 15, item 14; before:
// "3:0").
func TestIndentationLine(t *testing.T) {
	t.Parallel()
	data := "project: test-project\nregion: us-central1\nrollout:\n  steps:\n    - percent: 5\n      bake: 1m\n    - percent: 100\n   gates: []\n"
	_, err := Parse("twostage.yaml", []byte(data))
	if err == nil || !strings.HasPrefix(err.Error(), "twostage.yaml:8: ") || !strings.Contains(err.Error(), "indentation of line 8") {
		t.Errorf("Parse = %v, want the error at line 8", err)
	}
}
