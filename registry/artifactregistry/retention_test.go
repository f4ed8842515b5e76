package artifactregistry_test

import (
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/registry/registrytest"
)

// TestCheckRetention: a cleanup policy that can delete a digest prod runs
// is reported (now, or once old enough), unless a KEEP condition without
// an age bound matches it, the policy cannot match it (untagged only,
// other tag or package prefixes, newer_than it has outgrown) or the
// repository is in dry-run mode (information only). Issue 15, item 11.
func TestCheckRetention(t *testing.T) {
	t.Parallel()
	const sha = "4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c"
	tagged, untagged, anyState := artifactregistrypb.CleanupPolicyCondition_TAGGED, artifactregistrypb.CleanupPolicyCondition_UNTAGGED, artifactregistrypb.CleanupPolicyCondition_ANY
	policy := func(action artifactregistrypb.CleanupPolicy_Action, c *artifactregistrypb.CleanupPolicyCondition) *artifactregistrypb.CleanupPolicy {
		return &artifactregistrypb.CleanupPolicy{Action: action, ConditionType: &artifactregistrypb.CleanupPolicy_Condition{Condition: c}}
	}
	del := func(c *artifactregistrypb.CleanupPolicyCondition) *artifactregistrypb.CleanupPolicy {
		return policy(artifactregistrypb.CleanupPolicy_DELETE, c)
	}
	keep := func(c *artifactregistrypb.CleanupPolicyCondition) *artifactregistrypb.CleanupPolicy {
		return policy(artifactregistrypb.CleanupPolicy_KEEP, c)
	}
	days := func(n int) *durationpb.Duration { return durationpb.New(time.Duration(n) * 24 * time.Hour) }
	oldTagged := del(&artifactregistrypb.CleanupPolicyCondition{TagState: &tagged, OlderThan: days(90)})
	tests := []struct {
		name     string
		policies map[string]*artifactregistrypb.CleanupPolicy
		dryRun   bool
		want     []string // "severity substring"
	}{
		{"untagged only", map[string]*artifactregistrypb.CleanupPolicy{"untagged": del(&artifactregistrypb.CleanupPolicyCondition{TagState: &untagged, OlderThan: days(30)})}, false, nil},
		{"tagged, old", map[string]*artifactregistrypb.CleanupPolicy{"old": oldTagged}, false, []string{`error "old"`}},
		{"any, now", map[string]*artifactregistrypb.CleanupPolicy{"all": del(&artifactregistrypb.CleanupPolicyCondition{TagState: &anyState})}, false, []string{`error "all"`}},
		{"other tag prefix", map[string]*artifactregistrypb.CleanupPolicy{"rc": del(&artifactregistrypb.CleanupPolicyCondition{TagState: &tagged, TagPrefixes: []string{"rc-"}})}, false, nil},
		{"hex tag prefix", map[string]*artifactregistrypb.CleanupPolicy{"hex": del(&artifactregistrypb.CleanupPolicyCondition{TagState: &tagged, TagPrefixes: []string{"v", "4f"}})}, false, []string{`error "hex"`}},
		{"other package", map[string]*artifactregistrypb.CleanupPolicy{"web": del(&artifactregistrypb.CleanupPolicyCondition{PackageNamePrefixes: []string{"web"}})}, false, nil},
		{"outgrown newer_than", map[string]*artifactregistrypb.CleanupPolicy{"fresh": del(&artifactregistrypb.CleanupPolicyCondition{NewerThan: durationpb.New(0)})}, false, nil},
		{"kept by condition", map[string]*artifactregistrypb.CleanupPolicy{"old": oldTagged, "keep": keep(&artifactregistrypb.CleanupPolicyCondition{VersionNamePrefixes: []string{"sha256:"}})}, false, nil},
		{"keep bounded by age does not count", map[string]*artifactregistrypb.CleanupPolicy{"old": oldTagged, "keep": keep(&artifactregistrypb.CleanupPolicyCondition{TagState: &tagged, NewerThan: days(7)})}, false, []string{`error "old"`}},
		{"keep most recent does not count", map[string]*artifactregistrypb.CleanupPolicy{"old": oldTagged, "recent": {
			Action: artifactregistrypb.CleanupPolicy_KEEP, ConditionType: &artifactregistrypb.CleanupPolicy_MostRecentVersions{MostRecentVersions: &artifactregistrypb.CleanupPolicyMostRecentVersions{KeepCount: ptr(int32(10))}},
		}}, false, []string{`error "old"`}},
		{"dry run", map[string]*artifactregistrypb.CleanupPolicy{"old": oldTagged}, true, []string{`info "old"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, reg := newEmulator(t, &artifactregistrypb.Repository{Name: repoName, Format: artifactregistrypb.Repository_DOCKER, CleanupPolicies: tt.policies, CleanupPolicyDryRun: tt.dryRun})
			a, err := reg.Push(t.Context(), srv.RegistryHost()+"/my-project/apps/api:"+sha, registrytest.Image(t, "prod"))
			if err != nil {
				t.Fatal(err)
			}
			findings, err := reg.CheckRetention(t.Context(), []registry.Artifact{a, a})
			if err != nil {
				t.Fatal(err)
			}
			if len(findings) != len(tt.want) {
				t.Fatalf("CheckRetention = %q, want %d findings like %q", findings, len(tt.want), tt.want)
			}
			for i, f := range findings {
				sev, sub, _ := strings.Cut(tt.want[i], " ")
				if string(f.Severity) != sev || f.Check != "retention" || !strings.Contains(f.Message, sub) || !strings.Contains(f.Message, a.Digest) {
					t.Errorf("finding %d = %q, want severity %s, check retention, naming %s and the digest", i, f, sev, sub)
				}
			}
		})
	}
	t.Run("no artifacts", func(t *testing.T) {
		t.Parallel()
		_, reg := newEmulator(t, nil)
		if f, err := reg.CheckRetention(t.Context(), nil); f != nil || err != nil {
			t.Errorf("CheckRetention(nil) = %q, %v", f, err)
		}
	})
}

func ptr[T any](v T) *T { return &v }
