package cloudrun_test

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/stage/stagetest"
	"github.com/twostage/twostage/traffic"
)

// observation is what a step shows, stripped of what legitimately differs
// between backends (URL hosts, version tokens, times, backend labels).
type observation struct {
	Err       string // the sentinel the error wraps, if any
	Revision  string
	Artifact  string
	Ready     bool
	Tags      []string // tags with a URL on the revision
	Labels    map[string]string
	Targets   []traffic.Target // normalized
	State     string
	Latest    string
	Revisions []string // newest first, with readiness
}

func sentinelOf(err error) string {
	for _, s := range []error{twostage.ErrInvalid, twostage.ErrConflict, twostage.ErrNotReady, twostage.ErrNotFound} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

func withOverrides(r stage.Release, o stage.Overrides) stage.Release {
	r.Overrides = o
	return r
}

// TestAgreesWithFake runs one release story step by step against the Cloud
// Run implementation (on the emulator) and against fake.Service, and
// compares what each step shows.
func TestAgreesWithFake(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	f := fake.NewService(svcShort)
	type step struct {
		name string
		do   func(b stagetest.Backend, fail func(string, string)) (stage.Revision, error)
	}
	deploy := func(r stage.Release) func(stagetest.Backend, func(string, string)) (stage.Revision, error) {
		return func(b stagetest.Backend, _ func(string, string)) (stage.Revision, error) {
			return b.Deploy(t.Context(), r)
		}
	}
	set := func(edit func(traffic.Split) (traffic.Split, error)) func(stagetest.Backend, func(string, string)) (stage.Revision, error) {
		return func(b stagetest.Backend, _ func(string, string)) (stage.Revision, error) {
			sp, err := b.Split(t.Context())
			if err != nil {
				return stage.Revision{}, err
			}
			if sp, err = edit(sp); err != nil {
				return stage.Revision{}, err
			}
			_, err = b.SetSplit(t.Context(), sp)
			return stage.Revision{}, err
		}
	}
	labelled := release("v1-0-0-aaaaaaa", stage.RouteAll, "dev")
	labelled.Labels = map[string]string{stage.LabelCommit: "aaaaaaa", stage.LabelRef: "main"}
	steps := []step{
		{"no-traffic deploy to a missing service", deploy(release("a1", stage.RouteNone))},
		{"first deploy", deploy(labelled)},
		{"same deploy again", deploy(labelled)},
		{"candidate with no traffic", deploy(release("v1-1-0-bbbbbbb", stage.RouteNone, "candidate"))},
		{"5% canary with state", set(func(sp traffic.Split) (traffic.Split, error) {
			sp, err := traffic.Shift(sp, "api-v1-0-0-aaaaaaa", "api-v1-1-0-bbbbbbb", 5)
			sp.State = "step 1"
			return sp, err
		})},
		{"candidate again mid-rollout", deploy(release("v1-1-0-bbbbbbb", stage.RouteNone, "candidate"))},
		{"25%", set(func(sp traffic.Split) (traffic.Split, error) {
			sp, err := traffic.Shift(sp, "api-v1-0-0-aaaaaaa", "api-v1-1-0-bbbbbbb", 20)
			sp.State = "step 2"
			return sp, err
		})},
		{"another no-traffic deploy moves the tag", deploy(release("v1-2-0-ccccccc", stage.RouteNone, "candidate"))},
		{"a failing candidate", func(b stagetest.Backend, fail func(string, string)) (stage.Revision, error) {
			fail("api-v1-3-0-ddddddd", "container failed to start")
			return b.Deploy(t.Context(), release("v1-3-0-ddddddd", stage.RouteNone, "next"))
		}},
		{"route to the failed revision", set(func(sp traffic.Split) (traffic.Split, error) {
			return traffic.Route(sp, map[string]int{"api-v1-0-0-aaaaaaa": 50, "api-v1-3-0-ddddddd": 50})
		})},
		{"release with overrides", deploy(withOverrides(release("v1-4-0-eeeeeee", stage.RouteNone, "candidate"), stage.Overrides{
			Env: map[string]string{"MODE": "prod"}, CPU: "2", Memory: "2Gi", Labels: map[string]string{"tier": "gold"},
		}))},
		{"same name, other overrides", deploy(withOverrides(release("v1-4-0-eeeeeee", stage.RouteNone, "candidate"), stage.Overrides{
			Env: map[string]string{"MODE": "canary"}, CPU: "2", Memory: "2Gi", Labels: map[string]string{"tier": "gold"},
		}))},
		{"same name, same overrides", deploy(withOverrides(release("v1-4-0-eeeeeee", stage.RouteNone, "candidate"), stage.Overrides{
			Env: map[string]string{"MODE": "prod"}, CPU: "2", Memory: "2Gi", Labels: map[string]string{"tier": "gold"},
		}))},
		{"next release inherits the overridden template", deploy(release("v1-5-0-fffffff", stage.RouteNone, "next"))},
		{"same name, other image", deploy(stage.Release{Artifact: stagetest.Artifact("x"), Revision: "v1-1-0-bbbbbbb", Traffic: stage.RouteNone})},
		{"rollback in one write", set(func(sp traffic.Split) (traffic.Split, error) {
			sp, err := traffic.RouteAll(sp, "api-v1-0-0-aaaaaaa")
			sp.State = ""
			return sp, err
		})},
		{"dev deploy takes all, keeps tags", deploy(release("e5", stage.RouteAll, "dev"))},
		{"older release redeployed with all traffic", deploy(labelled)},
		{"split to a missing revision", set(func(sp traffic.Split) (traffic.Split, error) {
			return traffic.Route(sp, map[string]int{"api-nope": 100})
		})},
		{"stale version", func(b stagetest.Backend, _ func(string, string)) (stage.Revision, error) {
			sp, err := b.Split(t.Context())
			if err != nil {
				return stage.Revision{}, err
			}
			if _, err := b.SetSplit(t.Context(), sp); err != nil {
				return stage.Revision{}, err
			}
			_, err = b.SetSplit(t.Context(), sp)
			return stage.Revision{}, err
		}},
	}
	backends := []struct {
		b    stagetest.Backend
		fail func(string, string)
	}{{e.svc, e.srv.FailRevision}, {f, f.FailRevision}}
	for _, s := range steps {
		var obs [2]observation
		for i, be := range backends {
			rev, err := s.do(be.b, be.fail)
			o := observation{Err: sentinelOf(err), Revision: rev.Name, Ready: rev.Ready}
			if rev.Name != "" {
				o.Artifact = rev.Artifact.String()
				o.Tags = slices.Sorted(maps.Keys(rev.TagURLs))
				o.Labels = maps.Clone(rev.Labels)
				delete(o.Labels, stage.LabelManagedBy) // the Cloud Run backend's own label
			}
			if sp, err := be.b.Split(t.Context()); err == nil {
				o.Targets, o.State, o.Latest = traffic.Normalize(sp).Targets, sp.State, sp.LatestRevision
			}
			for r, err := range be.b.Revisions(t.Context()) {
				if err != nil {
					t.Fatal(err)
				}
				o.Revisions = append(o.Revisions, r.Name+map[bool]string{true: "", false: " (not ready)"}[r.Ready])
			}
			obs[i] = o
		}
		if diff := cmp.Diff(obs[0], obs[1], cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: cloudrun and fake disagree (-cloudrun +fake):\n%s", s.name, diff)
		}
	}
}
