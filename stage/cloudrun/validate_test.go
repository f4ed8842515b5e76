package cloudrun

import (
	"errors"
	"strings"
	"testing"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
)

func TestValidateRelease(t *testing.T) {
	t.Parallel()
	art := registry.Artifact{Repository: "europe-west1-docker.pkg.dev/p/r/api", Digest: "sha256:" + strings.Repeat("a", 64)}
	good := stage.Release{Artifact: art, Revision: "v1-4-2-abcdef1", Traffic: stage.RouteNone, Tags: []string{"candidate"}}
	cases := []struct {
		name     string
		edit     func(*stage.Release)
		wantName string
		wantErr  string // substring; "" means valid
	}{
		{"suffix", func(*stage.Release) {}, "api-v1-4-2-abcdef1", ""},
		{"full name", func(r *stage.Release) { r.Revision = "api-v1-4-2-abcdef1" }, "api-v1-4-2-abcdef1", ""},
		{"generated name", func(r *stage.Release) { r.Revision, r.Tags = "", nil }, "", ""},
		{"generated name with tags", func(r *stage.Release) { r.Revision = "" }, "", "no revision name"},
		{"dotted suffix", func(r *stage.Release) { r.Revision = "v1.4.2" }, "", "v1.4.2"},
		{"bad artifact", func(r *stage.Release) { r.Artifact.Digest = "sha256:abc" }, "", "sha256:abc"},
		{"no traffic mode", func(r *stage.Release) { r.Traffic = "" }, "", "stage.RouteAll"},
		{"tag too long", func(r *stage.Release) { r.Tags = []string{strings.Repeat("t", 44)} }, "", "shorten the tag to at most 43"},
		{"duplicate tag", func(r *stage.Release) { r.Tags = []string{"a", "a"} }, "", "listed twice"},
		{"reserved label", func(r *stage.Release) { r.Labels = map[string]string{"autoscaling.knative.dev/x": "1"} }, "", "reserves"},
		{"our label, our value", func(r *stage.Release) { r.Labels = map[string]string{stage.LabelManagedBy: ManagedByValue} }, "api-v1-4-2-abcdef1", ""},
		{"our label, other value", func(r *stage.Release) { r.Labels = map[string]string{stage.LabelManagedBy: "me"} }, "", "drop the label"},
		{"commit label", func(r *stage.Release) { r.Labels = map[string]string{stage.LabelCommit: strings.Repeat("f", 40)} }, "api-v1-4-2-abcdef1", ""},
		{"long label value", func(r *stage.Release) { r.Labels = map[string]string{"k": strings.Repeat("v", 64)} }, "", "at most 63"},
		{"non-ASCII label value", func(r *stage.Release) { r.Labels = map[string]string{"k": "café"} }, "", `'é'`},
	}
	for _, c := range cases {
		r := good
		c.edit(&r)
		name, err := validateRelease("api", r)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: validateRelease() error %v, want none", c.name, err)
		case c.wantErr != "" && (!errors.Is(err, twostage.ErrInvalid) || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: validateRelease() error %v, want one wrapping ErrInvalid mentioning %q", c.name, err, c.wantErr)
		case name != c.wantName:
			t.Errorf("%s: validateRelease() name %q, want %q", c.name, name, c.wantName)
		}
	}
}
