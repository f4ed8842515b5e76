package fake

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// art returns a valid artifact whose digest is hex digit c repeated.
func art(c string) registry.Artifact {
	return registry.Artifact{Repository: testRepo, Digest: "sha256:" + strings.Repeat(c, 64)}
}

func rel(rev string, tr stage.Traffic, tags ...string) stage.Release {
	return stage.Release{Artifact: art("a"), Revision: rev, Traffic: tr, Tags: tags}
}

func mustDeploy(t testing.TB, s *Service, r stage.Release) stage.Revision {
	t.Helper()
	rev, err := s.Deploy(context.Background(), r)
	if err != nil {
		t.Fatalf("Deploy(%+v) = %v", r, err)
	}
	return rev
}

func mustSetSplit(t testing.TB, s *Service, targets ...traffic.Target) traffic.Split {
	t.Helper()
	ctx := context.Background()
	cur, err := s.Split(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cur.Targets = targets
	out, err := s.SetSplit(ctx, cur)
	if err != nil {
		t.Fatalf("SetSplit(%v) = %v", targets, err)
	}
	return out
}

// revSummary lists revisions newest first as "name" or "name (not ready)".
func revSummary(revs []stage.Revision) []string {
	var out []string
	for _, r := range revs {
		s := r.Name
		if !r.Ready {
			s += " (not ready)"
		}
		out = append(out, s)
	}
	return out
}

func latest(p int, tag ...string) traffic.Target {
	t := traffic.Target{Latest: true, Percent: p}
	if len(tag) > 0 {
		t.Tag = tag[0]
	}
	return t
}

func to(rev string, p int, tag ...string) traffic.Target {
	t := traffic.Target{Revision: rev, Percent: p}
	if len(tag) > 0 {
		t.Tag = tag[0]
	}
	return t
}

func TestServiceDeploy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// prep runs first; every Deploy and SetSplit in it must succeed.
		prep func(t *testing.T, s *Service)
		// opts configure the service.
		opts    []ServiceOption
		deploy  stage.Release
		wantErr error  // nil: success
		wantMsg string // a substring of the error
		wantRev string // the returned revision's name, if any
		// The state after the deploy.
		wantExists  bool
		wantTargets []traffic.Target
		wantLatest  string
		wantRevs    []string
		wantGen     int64
	}{
		{
			name:       "first RouteAll creates the service",
			deploy:     rel("a", stage.RouteAll),
			wantRev:    "api-a",
			wantExists: true, wantTargets: []traffic.Target{latest(100)}, wantLatest: "api-a",
			wantRevs: []string{"api-a"}, wantGen: 1,
		},
		{
			name:       "full name is kept",
			deploy:     rel("api-a", stage.RouteAll),
			wantRev:    "api-a",
			wantExists: true, wantTargets: []traffic.Target{latest(100)}, wantLatest: "api-a",
			wantRevs: []string{"api-a"}, wantGen: 1,
		},
		{
			name:       "another service's prefix is a suffix",
			deploy:     rel("web-a", stage.RouteAll),
			wantRev:    "api-web-a",
			wantExists: true, wantTargets: []traffic.Target{latest(100)}, wantLatest: "api-web-a",
			wantRevs: []string{"api-web-a"}, wantGen: 1,
		},
		{
			name:       "first RouteAll with tags",
			deploy:     rel("a", stage.RouteAll, "dev", "sha-1234"),
			wantRev:    "api-a",
			wantExists: true, wantTargets: []traffic.Target{latest(100), to("api-a", 0, "dev"), to("api-a", 0, "sha-1234")}, wantLatest: "api-a",
			wantRevs: []string{"api-a"}, wantGen: 1,
		},
		{
			name:    "RouteNone refused on a missing service",
			deploy:  rel("a", stage.RouteNone, "candidate"),
			wantErr: twostage.ErrInvalid, wantMsg: `service "api" does not exist; deploy with traffic first (RouteAll) to create it`,
		},
		{
			name:       "RouteNone pins LATEST and tags the new revision",
			prep:       func(t *testing.T, s *Service) { mustDeploy(t, s, rel("a", stage.RouteAll)) },
			deploy:     rel("b", stage.RouteNone, "candidate"),
			wantRev:    "api-b",
			wantExists: true, wantTargets: []traffic.Target{to("api-a", 100), to("api-b", 0, "candidate")}, wantLatest: "api-b",
			wantRevs: []string{"api-b", "api-a"}, wantGen: 2,
		},
		{
			name:       "RouteNone without tags adds no entry",
			prep:       func(t *testing.T, s *Service) { mustDeploy(t, s, rel("a", stage.RouteAll)) },
			deploy:     rel("b", stage.RouteNone),
			wantRev:    "api-b",
			wantExists: true, wantTargets: []traffic.Target{to("api-a", 100)}, wantLatest: "api-b",
			wantRevs: []string{"api-b", "api-a"}, wantGen: 2,
		},
		{
			name: "RouteNone keeps a split and its tags, pinning LATEST with its percent",
			prep: func(t *testing.T, s *Service) {
				mustDeploy(t, s, rel("a", stage.RouteAll))
				mustDeploy(t, s, rel("b", stage.RouteAll))
				mustSetSplit(t, s, latest(90, "current"), to("api-a", 10, "old"))
			},
			deploy:     rel("c", stage.RouteNone, "candidate"),
			wantRev:    "api-c",
			wantExists: true, wantTargets: []traffic.Target{to("api-b", 90, "current"), to("api-a", 10, "old"), to("api-c", 0, "candidate")}, wantLatest: "api-c",
			wantRevs: []string{"api-c", "api-b", "api-a"}, wantGen: 4,
		},
		{
			name: "RouteNone moves a tag; the emptied entry goes",
			prep: func(t *testing.T, s *Service) {
				mustDeploy(t, s, rel("a", stage.RouteAll))
				mustDeploy(t, s, rel("b", stage.RouteNone, "candidate"))
			},
			deploy:     rel("c", stage.RouteNone, "candidate"),
			wantRev:    "api-c",
			wantExists: true, wantTargets: []traffic.Target{to("api-a", 100), to("api-c", 0, "candidate")}, wantLatest: "api-c",
			wantRevs: []string{"api-c", "api-b", "api-a"}, wantGen: 3,
		},
		{
			name: "RouteNone moves a tag off an entry with traffic, keeping the traffic",
			prep: func(t *testing.T, s *Service) {
				mustDeploy(t, s, rel("a", stage.RouteAll))
				mustDeploy(t, s, rel("b", stage.RouteNone))
				mustSetSplit(t, s, to("api-a", 50, "stable"), to("api-b", 50))
			},
			deploy:     rel("c", stage.RouteNone, "stable"),
			wantRev:    "api-c",
			wantExists: true, wantTargets: []traffic.Target{to("api-a", 50), to("api-b", 50), to("api-c", 0, "stable")}, wantLatest: "api-c",
			wantRevs: []string{"api-c", "api-b", "api-a"}, wantGen: 4,
		},
		{
			name: "RouteAll sends everything to LATEST and keeps tags as tag-only entries",
			prep: func(t *testing.T, s *Service) {
				mustDeploy(t, s, rel("a", stage.RouteAll))
				mustDeploy(t, s, rel("b", stage.RouteNone, "candidate"))
				mustSetSplit(t, s, to("api-a", 50, "stable"), to("api-b", 50), to("api-b", 0, "candidate"))
			},
			deploy:     rel("c", stage.RouteAll),
			wantRev:    "api-c",
			wantExists: true, wantTargets: []traffic.Target{latest(100), to("api-a", 0, "stable"), to("api-b", 0, "candidate")}, wantLatest: "api-c",
			wantRevs: []string{"api-c", "api-b", "api-a"}, wantGen: 4,
		},
		{
			name:       "RouteAll moves a tag",
			prep:       func(t *testing.T, s *Service) { mustDeploy(t, s, rel("a", stage.RouteAll, "dev")) },
			deploy:     rel("b", stage.RouteAll, "dev"),
			wantRev:    "api-b",
			wantExists: true, wantTargets: []traffic.Target{latest(100), to("api-b", 0, "dev")}, wantLatest: "api-b",
			wantRevs: []string{"api-b", "api-a"}, wantGen: 2,
		},
		{
			name: "same template is adopted and routed as asked",
			prep: func(t *testing.T, s *Service) {
				mustDeploy(t, s, rel("a", stage.RouteAll))
				mustDeploy(t, s, rel("b", stage.RouteAll))
			},
			deploy:     rel("a", stage.RouteAll),
			wantRev:    "api-a",
			wantExists: true, wantTargets: []traffic.Target{to("api-a", 100)}, wantLatest: "api-b",
			wantRevs: []string{"api-b", "api-a"}, wantGen: 3,
		},
		{
			name:       "adopting the latest revision routes through LATEST",
			prep:       func(t *testing.T, s *Service) { mustDeploy(t, s, rel("a", stage.RouteAll)) },
			deploy:     rel("a", stage.RouteAll, "dev"),
			wantRev:    "api-a",
			wantExists: true, wantTargets: []traffic.Target{latest(100), to("api-a", 0, "dev")}, wantLatest: "api-a",
			wantRevs: []string{"api-a"}, wantGen: 2,
		},
		{
			name: "adopting with RouteNone leaves LATEST alone and adds the tag",
			prep: func(t *testing.T, s *Service) {
				mustDeploy(t, s, rel("a", stage.RouteAll))
				mustDeploy(t, s, rel("b", stage.RouteAll))
			},
			deploy:     rel("a", stage.RouteNone, "old"),
			wantRev:    "api-a",
			wantExists: true, wantTargets: []traffic.Target{latest(100), to("api-a", 0, "old")}, wantLatest: "api-b",
			wantRevs: []string{"api-b", "api-a"}, wantGen: 3,
		},
		{
			name: "re-running a no-traffic deploy is idempotent",
			prep: func(t *testing.T, s *Service) {
				mustDeploy(t, s, rel("a", stage.RouteAll))
				mustDeploy(t, s, rel("b", stage.RouteNone, "candidate"))
			},
			deploy:     rel("b", stage.RouteNone, "candidate"),
			wantRev:    "api-b",
			wantExists: true, wantTargets: []traffic.Target{to("api-a", 100), to("api-b", 0, "candidate")}, wantLatest: "api-b",
			wantRevs: []string{"api-b", "api-a"}, wantGen: 2,
		},
		{
			name: "nil and empty labels are the same template",
			prep: func(t *testing.T, s *Service) {
				mustDeploy(t, s, stage.Release{Artifact: art("a"), Revision: "a", Traffic: stage.RouteAll, Labels: map[string]string{}})
			},
			deploy:     rel("a", stage.RouteAll),
			wantRev:    "api-a",
			wantExists: true, wantTargets: []traffic.Target{latest(100)}, wantLatest: "api-a",
			wantRevs: []string{"api-a"}, wantGen: 1,
		},
		{
			name:    "same name, different artifact",
			prep:    func(t *testing.T, s *Service) { mustDeploy(t, s, rel("a", stage.RouteAll)) },
			deploy:  stage.Release{Artifact: art("b"), Revision: "a", Traffic: stage.RouteAll},
			wantErr: twostage.ErrConflict, wantMsg: "Revision named 'api-a' with different configuration already exists",
			wantExists: true, wantTargets: []traffic.Target{latest(100)}, wantLatest: "api-a",
			wantRevs: []string{"api-a"}, wantGen: 1,
		},
		{
			name:    "same name, different labels",
			prep:    func(t *testing.T, s *Service) { mustDeploy(t, s, rel("a", stage.RouteAll)) },
			deploy:  stage.Release{Artifact: art("a"), Revision: "a", Traffic: stage.RouteNone, Labels: map[string]string{"team": "x"}},
			wantErr: twostage.ErrConflict, wantMsg: "Revision named 'api-a' with different configuration already exists",
			wantExists: true, wantTargets: []traffic.Target{latest(100)}, wantLatest: "api-a",
			wantRevs: []string{"api-a"}, wantGen: 1,
		},
		{
			name:    "first deploy not ready: the service exists, nothing serves",
			prep:    func(t *testing.T, s *Service) { s.FailRevision("a", "Container failed to start.") },
			deploy:  rel("a", stage.RouteAll, "dev"),
			wantErr: twostage.ErrNotReady, wantMsg: "Revision 'api-a' is not ready and cannot serve traffic. Container failed to start.",
			wantRev:    "api-a",
			wantExists: true, wantTargets: []traffic.Target{latest(100)}, wantLatest: "",
			wantRevs: []string{"api-a (not ready)"}, wantGen: 1,
		},
		{
			name: "RouteAll not ready: traffic stays",
			prep: func(t *testing.T, s *Service) {
				mustDeploy(t, s, rel("a", stage.RouteAll))
				s.FailRevision("api-b", "boom")
			},
			deploy:  rel("b", stage.RouteAll, "dev"),
			wantErr: twostage.ErrNotReady, wantMsg: "Revision 'api-b' is not ready and cannot serve traffic. boom",
			wantRev:    "api-b",
			wantExists: true, wantTargets: []traffic.Target{latest(100)}, wantLatest: "api-a",
			wantRevs: []string{"api-b (not ready)", "api-a"}, wantGen: 2,
		},
		{
			name: "RouteNone not ready: no tag entry added",
			prep: func(t *testing.T, s *Service) {
				mustDeploy(t, s, rel("a", stage.RouteAll))
				s.FailRevision("b", "")
			},
			deploy:  rel("b", stage.RouteNone, "candidate"),
			wantErr: twostage.ErrNotReady, wantMsg: "Revision 'api-b' is not ready and cannot serve traffic",
			wantRev:    "api-b",
			wantExists: true, wantTargets: []traffic.Target{latest(100)}, wantLatest: "api-a",
			wantRevs: []string{"api-b (not ready)", "api-a"}, wantGen: 2,
		},
		{
			name: "re-deploying a not-ready revision fails the same way and changes nothing",
			prep: func(t *testing.T, s *Service) {
				mustDeploy(t, s, rel("a", stage.RouteAll))
				s.FailRevision("b", "boom")
				if _, err := s.Deploy(context.Background(), rel("b", stage.RouteAll)); !errors.Is(err, twostage.ErrNotReady) {
					t.Fatalf("first deploy of b = %v, want ErrNotReady", err)
				}
			},
			deploy:  rel("b", stage.RouteAll),
			wantErr: twostage.ErrNotReady, wantMsg: "Revision 'api-b' is not ready and cannot serve traffic. boom",
			wantRev:    "api-b",
			wantExists: true, wantTargets: []traffic.Target{latest(100)}, wantLatest: "api-a",
			wantRevs: []string{"api-b (not ready)", "api-a"}, wantGen: 2,
		},
		{
			name: "FailRevision does not affect an existing revision",
			prep: func(t *testing.T, s *Service) {
				mustDeploy(t, s, rel("a", stage.RouteAll))
				s.FailRevision("a", "too late")
			},
			deploy:     rel("a", stage.RouteAll),
			wantRev:    "api-a",
			wantExists: true, wantTargets: []traffic.Target{latest(100)}, wantLatest: "api-a",
			wantRevs: []string{"api-a"}, wantGen: 1,
		},
		{
			name: "WithReadiness refuses a revision",
			opts: []ServiceOption{WithReadiness(func(r stage.Release, name string) error {
				if name == "api-b" {
					return errors.New("probe failed")
				}
				return nil
			})},
			prep:    func(t *testing.T, s *Service) { mustDeploy(t, s, rel("a", stage.RouteAll)) },
			deploy:  rel("b", stage.RouteAll),
			wantErr: twostage.ErrNotReady, wantMsg: "Revision 'api-b' is not ready and cannot serve traffic. probe failed",
			wantRev:    "api-b",
			wantExists: true, wantTargets: []traffic.Target{latest(100)}, wantLatest: "api-a",
			wantRevs: []string{"api-b (not ready)", "api-a"}, wantGen: 2,
		},
		{
			name: "RouteNone with no ready revision to pin",
			prep: func(t *testing.T, s *Service) {
				s.FailRevision("a", "boom")
				_, _ = s.Deploy(context.Background(), rel("a", stage.RouteAll))
			},
			deploy:  rel("b", stage.RouteNone),
			wantErr: twostage.ErrInvalid, wantMsg: "no ready revision",
			wantExists: true, wantTargets: []traffic.Target{latest(100)}, wantLatest: "",
			wantRevs: []string{"api-a (not ready)"}, wantGen: 1,
		},
		{
			name:    "tag too long for the service name",
			prep:    func(t *testing.T, s *Service) { mustDeploy(t, s, rel("a", stage.RouteAll)) },
			deploy:  rel("b", stage.RouteNone, strings.Repeat("t", 44)),
			wantErr: twostage.ErrInvalid, wantMsg: "together are 47 characters",
			wantExists: true, wantTargets: []traffic.Target{latest(100)}, wantLatest: "api-a",
			wantRevs: []string{"api-a"}, wantGen: 1,
		},
		{
			name:       "tag at the length limit",
			deploy:     rel("a", stage.RouteAll, strings.Repeat("t", 43)),
			wantRev:    "api-a",
			wantExists: true, wantTargets: []traffic.Target{latest(100), to("api-a", 0, strings.Repeat("t", 43))}, wantLatest: "api-a",
			wantRevs: []string{"api-a"}, wantGen: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewService("api", tt.opts...)
			if tt.prep != nil {
				tt.prep(t, s)
			}
			rev, err := s.Deploy(context.Background(), tt.deploy)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Deploy = %v, want success", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("Deploy = %v, want an error wrapping %v", err, tt.wantErr)
			case err != nil && !strings.Contains(err.Error(), tt.wantMsg):
				t.Errorf("Deploy error %q does not contain %q", err, tt.wantMsg)
			}
			if err != nil && !strings.Contains(err.Error(), `service "api"`) {
				t.Errorf("Deploy error %q does not name the service", err)
			}
			if rev.Name != tt.wantRev {
				t.Errorf("Deploy returned revision %q, want %q", rev.Name, tt.wantRev)
			}
			st := s.Snapshot()
			if st.Exists != tt.wantExists {
				t.Errorf("Exists = %v, want %v", st.Exists, tt.wantExists)
			}
			if diff := cmp.Diff(tt.wantTargets, st.Split.Targets); diff != "" {
				t.Errorf("split targets mismatch (-want +got):\n%s", diff)
			}
			if st.Split.LatestRevision != tt.wantLatest {
				t.Errorf("LatestRevision = %q, want %q", st.Split.LatestRevision, tt.wantLatest)
			}
			if diff := cmp.Diff(tt.wantRevs, revSummary(st.Revisions)); diff != "" {
				t.Errorf("revisions mismatch (-want +got):\n%s", diff)
			}
			if st.Generation != tt.wantGen {
				t.Errorf("Generation = %d, want %d", st.Generation, tt.wantGen)
			}
		})
	}
}

func TestServiceDeployInvalid(t *testing.T) {
	t.Parallel()
	good := rel("b", stage.RouteNone)
	with := func(f func(r *stage.Release)) stage.Release {
		r := good
		f(&r)
		return r
	}
	tests := []struct {
		name    string
		r       stage.Release
		wantMsg string
	}{
		{"zero artifact", with(func(r *stage.Release) { r.Artifact = registry.Artifact{} }), "release artifact"},
		{"bad digest", with(func(r *stage.Release) { r.Artifact.Digest = "sha256:abc" }), "release artifact"},
		{"zero traffic", with(func(r *stage.Release) { r.Traffic = "" }), `release traffic ""`},
		{"unknown traffic", with(func(r *stage.Release) { r.Traffic = "some" }), `release traffic "some"`},
		{"tag with a dot", with(func(r *stage.Release) { r.Tags = []string{"v1.2"} }), `release tag "v1.2" is not a DNS label`},
		{"tag starting with a digit", with(func(r *stage.Release) { r.Tags = []string{"1abc"} }), `release tag "1abc"`},
		{"empty tag", with(func(r *stage.Release) { r.Tags = []string{""} }), `release tag ""`},
		{"duplicate tag", with(func(r *stage.Release) { r.Tags = []string{"x", "x"} }), `release tag "x" is listed twice`},
		{"suffix with a dot", with(func(r *stage.Release) { r.Revision = "v1.4.2" }), `revision name "api-v1.4.2" is not valid`},
		{"upper-case suffix", with(func(r *stage.Release) { r.Revision = "ABC" }), `revision name "api-ABC" is not valid`},
		{"name ending with a dash", with(func(r *stage.Release) { r.Revision = "abc-" }), `revision name "api-abc-" is not valid`},
		{"label in run.googleapis.com", with(func(r *stage.Release) { r.Labels = map[string]string{"run.googleapis.com/foo": "x"} }), `"run.googleapis.com/foo" is in the reserved namespace run.googleapis.com`},
		{"label in cloud.googleapis.com", with(func(r *stage.Release) { r.Labels = map[string]string{"cloud.googleapis.com/location": "x"} }), "reserved namespace cloud.googleapis.com"},
		{"label in serving.knative.dev", with(func(r *stage.Release) { r.Labels = map[string]string{"serving.knative.dev/service": "x"} }), "reserved namespace serving.knative.dev"},
		{"label in autoscaling.knative.dev", with(func(r *stage.Release) { r.Labels = map[string]string{"autoscaling.knative.dev/maxScale": "3"} }), "reserved namespace autoscaling.knative.dev"},
		{"label in a sub-domain of a reserved namespace", with(func(r *stage.Release) { r.Labels = map[string]string{"x.run.googleapis.com/y": "z"} }), "reserved namespace run.googleapis.com"},
		{"label key upper-case", with(func(r *stage.Release) { r.Labels = map[string]string{"Team": "x"} }), `release label key "Team"`},
		{"label key starting with a digit", with(func(r *stage.Release) { r.Labels = map[string]string{"1team": "x"} }), `release label key "1team"`},
		{"label key too long", with(func(r *stage.Release) { r.Labels = map[string]string{strings.Repeat("k", 64): "x"} }), "release label key"},
		{"label value with a dot", with(func(r *stage.Release) { r.Labels = map[string]string{"ref": "v1.2"} }), `release label "ref" value "v1.2"`},
		{"label value too long", with(func(r *stage.Release) { r.Labels = map[string]string{"ref": strings.Repeat("v", 64)} }), `release label "ref"`},
		{"too many labels", with(func(r *stage.Release) {
			r.Labels = map[string]string{}
			for i := range 65 {
				r.Labels[fmt.Sprintf("k%d", i)] = ""
			}
		}), "65 labels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewService("api")
			mustDeploy(t, s, rel("a", stage.RouteAll))
			before := s.Snapshot()
			_, err := s.Deploy(context.Background(), tt.r)
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Fatalf("Deploy = %v, want an error wrapping ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Deploy error %q does not contain %q", err, tt.wantMsg)
			}
			if diff := cmp.Diff(before, s.Snapshot()); diff != "" {
				t.Errorf("a refused deploy changed the service (-before +after):\n%s", diff)
			}
		})
	}
}

func TestServiceValidLabels(t *testing.T) {
	t.Parallel()
	labels := map[string]string{
		stage.LabelManagedBy: "twostage",
		stage.LabelCommit:    strings.Repeat("0123456789", 4),
		stage.LabelRef:       "v1-4-2",
		"empty":              "",
		"a_b-c":              "x_y-z",
	}
	s := NewService("api")
	rev := mustDeploy(t, s, stage.Release{Artifact: art("a"), Revision: "a", Traffic: stage.RouteAll, Labels: labels})
	if diff := cmp.Diff(labels, rev.Labels); diff != "" {
		t.Errorf("revision labels mismatch (-want +got):\n%s", diff)
	}
	labels["empty"] = "changed"
	if got := s.Snapshot().Revisions[0].Labels["empty"]; got != "" {
		t.Errorf("the service kept a reference to the release's labels: %q", got)
	}
}

func TestServiceGeneratedNames(t *testing.T) {
	t.Parallel()
	pattern := regexp.MustCompile(`^api-(\d{5})-[a-z]{3}$`)
	deployAll := func() []string {
		s := NewService("api")
		var names []string
		for i := range 3 {
			r := rel("", stage.RouteAll)
			r.Artifact = art(fmt.Sprint(i))
			names = append(names, mustDeploy(t, s, r).Name)
		}
		return names
	}
	names := deployAll()
	for i, n := range names {
		m := pattern.FindStringSubmatch(n)
		if m == nil {
			t.Fatalf("generated name %q does not match %v", n, pattern)
		}
		if want := fmt.Sprintf("%05d", i+1); m[1] != want {
			t.Errorf("generated name %q: generation %s, want %s", n, m[1], want)
		}
	}
	if diff := cmp.Diff(names, deployAll()); diff != "" {
		t.Errorf("generated names are not deterministic (-first +second):\n%s", diff)
	}
}

func TestServiceGeneratedNameAvoidsTakenNames(t *testing.T) {
	t.Parallel()
	// The name generated for generation 2, found on a probe service.
	probe := NewService("api")
	mustDeploy(t, probe, rel("", stage.RouteAll))
	taken := mustDeploy(t, probe, rel("", stage.RouteAll)).Name

	// Take it explicitly at generation 1, then generate for generation 2.
	s := NewService("api")
	mustDeploy(t, s, rel(taken, stage.RouteAll))
	r := rel("", stage.RouteAll)
	r.Artifact = art("f")
	got := mustDeploy(t, s, r).Name
	if got == taken {
		t.Errorf("generated name %q collides with an existing revision", got)
	}
	if !regexp.MustCompile(`^api-00002-[a-z]{3}$`).MatchString(got) {
		t.Errorf("generated name %q, want api-00002-xxx", got)
	}
}

func TestServiceSetSplit(t *testing.T) {
	t.Parallel()
	// Each case starts from: api-a (all), api-b (none, "candidate"),
	// api-c not ready.
	setup := func(t *testing.T) *Service {
		s := NewService("api")
		mustDeploy(t, s, rel("a", stage.RouteAll))
		mustDeploy(t, s, rel("b", stage.RouteNone, "candidate"))
		s.FailRevision("c", "boom")
		if _, err := s.Deploy(context.Background(), rel("c", stage.RouteNone)); !errors.Is(err, twostage.ErrNotReady) {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name        string
		version     func(cur string) string
		targets     []traffic.Target
		state       string
		wantErr     error
		wantMsg     string
		wantTargets []traffic.Target // stored, on success
	}{
		{
			name:        "canary",
			targets:     []traffic.Target{to("api-a", 95, "stable"), to("api-b", 5, "candidate")},
			state:       `{"step":1}`,
			wantTargets: []traffic.Target{to("api-a", 95, "stable"), to("api-b", 5, "candidate")},
		},
		{
			name:        "empty version writes unconditionally",
			version:     func(string) string { return "" },
			targets:     []traffic.Target{to("api-b", 100)},
			wantTargets: []traffic.Target{to("api-b", 100)},
		},
		{
			name:        "empty targets mean 100% LATEST",
			targets:     nil,
			wantTargets: []traffic.Target{latest(100)},
		},
		{
			name:        "a tag-only entry on a not-ready revision is fine",
			targets:     []traffic.Target{latest(100), to("api-c", 0, "broken")},
			wantTargets: []traffic.Target{latest(100), to("api-c", 0, "broken")},
		},
		{
			name:    "stale version",
			version: func(cur string) string { return "0123456789abcdef" },
			targets: []traffic.Target{to("api-b", 100)},
			wantErr: twostage.ErrConflict, wantMsg: `version "0123456789abcdef" is stale`,
		},
		{
			name:    "percents do not sum to 100",
			targets: []traffic.Target{to("api-a", 90), to("api-b", 5)},
			wantErr: twostage.ErrInvalid, wantMsg: "percents sum to 95",
		},
		{
			name:    "missing revision",
			targets: []traffic.Target{to("api-a", 90), to("api-zzz", 10)},
			wantErr: twostage.ErrInvalid, wantMsg: `target 2: revision "api-zzz" does not exist`,
		},
		{
			name:    "traffic to a not-ready revision",
			targets: []traffic.Target{to("api-a", 90), to("api-c", 10)},
			wantErr: twostage.ErrNotReady, wantMsg: `target 2: Revision 'api-c' is not ready and cannot serve traffic (boom)`,
		},
		{
			name:    "duplicate tag",
			targets: []traffic.Target{to("api-a", 100, "x"), to("api-b", 0, "x")},
			wantErr: twostage.ErrInvalid, wantMsg: `both carry tag "x"`,
		},
		{
			name:    "tag too long for the service",
			targets: []traffic.Target{to("api-a", 100, strings.Repeat("t", 44))},
			wantErr: twostage.ErrInvalid, wantMsg: "together are 47 characters",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := setup(t)
			ctx := context.Background()
			before := s.Snapshot()
			cur, err := s.Split(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sp := traffic.Split{Targets: tt.targets, Version: cur.Version, State: tt.state}
			if tt.version != nil {
				sp.Version = tt.version(cur.Version)
			}
			got, err := s.SetSplit(ctx, sp)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("SetSplit = %v, want an error wrapping %v", err, tt.wantErr)
				}
				if tt.wantErr == twostage.ErrNotReady && !errors.Is(err, twostage.ErrInvalid) {
					t.Errorf("SetSplit = %v, want it to wrap ErrInvalid too, as stage/cloudrun does", err)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), `service "api"`) {
					t.Errorf("SetSplit error %q does not contain %q and the service name", err, tt.wantMsg)
				}
				if diff := cmp.Diff(before, s.Snapshot()); diff != "" {
					t.Errorf("a failed SetSplit changed the service (-before +after):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("SetSplit = %v", err)
			}
			want := traffic.Split{Targets: tt.wantTargets, Version: got.Version, State: tt.state, LatestRevision: "api-b"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("SetSplit result mismatch (-want +got):\n%s", diff)
			}
			if got.Version == cur.Version || got.Version == "" {
				t.Errorf("SetSplit Version = %q, want a new one (was %q)", got.Version, cur.Version)
			}
			read, err := s.Split(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, read); diff != "" {
				t.Errorf("Split after SetSplit mismatch (-returned +read):\n%s", diff)
			}
			if g := s.Snapshot().Generation; g != before.Generation+1 {
				t.Errorf("Generation = %d, want %d", g, before.Generation+1)
			}
		})
	}
}

func TestServiceMissing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewService("api")
	if _, err := s.Split(ctx); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("Split = %v, want ErrNotFound", err)
	}
	if _, err := s.SetSplit(ctx, traffic.Split{}); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("SetSplit = %v, want ErrNotFound", err)
	}
	for rev, err := range s.Revisions(ctx) {
		t.Errorf("Revisions yielded %v, %v on a missing service", rev, err)
	}
	if diff := cmp.Diff(ServiceState{}, s.Snapshot()); diff != "" {
		t.Errorf("Snapshot mismatch (-want +got):\n%s", diff)
	}
	if s.Name() != "api" {
		t.Errorf("Name() = %q", s.Name())
	}
}

func TestServiceVersionsNeverRepeat(t *testing.T) {
	t.Parallel()
	s := NewService("api")
	mustDeploy(t, s, rel("a", stage.RouteAll))
	mustDeploy(t, s, rel("b", stage.RouteNone))
	seen := map[string]int{}
	for i := range 200 {
		// Alternate between two splits, so equal content must still get a
		// new version.
		sp := mustSetSplit(t, s, to("api-a", 100-i%2*50), to("api-b", i%2*50))
		if prev, dup := seen[sp.Version]; dup {
			t.Fatalf("write %d reused version %q of write %d", i, sp.Version, prev)
		}
		seen[sp.Version] = i
	}
	// Another service with the same history has other versions.
	o := NewService("web")
	r := rel("a", stage.RouteAll)
	mustDeploy(t, o, r)
	sp, _ := o.Split(context.Background())
	a := NewService("api")
	mustDeploy(t, a, r)
	sa, _ := a.Split(context.Background())
	if sp.Version == sa.Version {
		t.Errorf("services api and web share version %q", sp.Version)
	}
}

func TestServiceUnchangedWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewService("api")
	mustDeploy(t, s, rel("a", stage.RouteAll))
	mustDeploy(t, s, rel("b", stage.RouteNone, "candidate"))
	before, _ := s.Split(ctx)
	gen := s.Snapshot().Generation

	// A re-run deploy and a SetSplit of the same split are writes that
	// change nothing: new versions, same generation.
	mustDeploy(t, s, rel("b", stage.RouteNone, "candidate"))
	afterDeploy, _ := s.Split(ctx)
	afterSet, err := s.SetSplit(ctx, afterDeploy)
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]bool{before.Version: true, afterDeploy.Version: true, afterSet.Version: true}
	if len(versions) != 3 {
		t.Errorf("versions %q, %q, %q; want three distinct ones", before.Version, afterDeploy.Version, afterSet.Version)
	}
	if got := s.Snapshot().Generation; got != gen {
		t.Errorf("Generation = %d after unchanged writes, want %d", got, gen)
	}
	if _, err := s.SetSplit(ctx, before); !errors.Is(err, twostage.ErrConflict) {
		t.Errorf("SetSplit with the version from before the unchanged writes = %v, want ErrConflict", err)
	}

	// Changing only the State is a change.
	afterSet.State = "step 1"
	if _, err := s.SetSplit(ctx, afterSet); err != nil {
		t.Fatal(err)
	}
	if got := s.Snapshot().Generation; got != gen+1 {
		t.Errorf("Generation = %d after a State change, want %d", got, gen+1)
	}
}

func TestServiceRevisions(t *testing.T) {
	t.Parallel()
	clk := NewClock(time.Time{})
	start := clk.Now()
	s := NewService("api", WithClock(clk), WithURL("https://api-xyz-uc.a.run.app"))
	labels := map[string]string{"team": "pay"}
	mustDeploy(t, s, stage.Release{Artifact: art("a"), Revision: "a", Traffic: stage.RouteAll, Labels: labels})
	clk.Advance(time.Minute)
	mustDeploy(t, s, stage.Release{Artifact: art("b"), Revision: "b", Traffic: stage.RouteNone, Tags: []string{"candidate"}})

	want := []stage.Revision{
		{
			Name: "api-b", Artifact: art("b"), Ready: true, URL: "https://api-xyz-uc.a.run.app",
			TagURLs: map[string]string{"candidate": "https://candidate---api-xyz-uc.a.run.app"},
			Created: start.Add(time.Minute),
			// Inherited from the template api-a left (template
			// preservation), as on Cloud Run.
			Labels: labels,
		},
		{
			Name: "api-a", Artifact: art("a"), Ready: true, URL: "https://api-xyz-uc.a.run.app",
			Created: start, Labels: labels,
		},
	}
	var got []stage.Revision
	for r, err := range s.Revisions(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Revisions mismatch (-want +got):\n%s", diff)
	}

	// Tag URLs follow the split: move "candidate" to api-a, and tag LATEST
	// (api-b) "latest".
	mustSetSplit(t, s, to("api-a", 100, "candidate"), latest(0, "latest"))
	want[0].TagURLs = map[string]string{"latest": "https://latest---api-xyz-uc.a.run.app"}
	want[1].TagURLs = map[string]string{"candidate": "https://candidate---api-xyz-uc.a.run.app"}
	if diff := cmp.Diff(want, s.Snapshot().Revisions); diff != "" {
		t.Errorf("after SetSplit, revisions mismatch (-want +got):\n%s", diff)
	}

	// Stopping early is fine.
	n := 0
	for range s.Revisions(context.Background()) {
		n++
		break
	}
	if n != 1 {
		t.Errorf("break after one revision saw %d", n)
	}
}

func TestServiceRevisionsCanceled(t *testing.T) {
	t.Parallel()
	s := NewService("api")
	mustDeploy(t, s, rel("a", stage.RouteAll))
	mustDeploy(t, s, rel("b", stage.RouteAll))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var names []string
	var gotErr error
	for r, err := range s.Revisions(ctx) {
		if err != nil {
			gotErr = err
			if r.Name != "" {
				t.Errorf("error yielded with revision %q, want a zero Revision", r.Name)
			}
			continue
		}
		names = append(names, r.Name)
		cancel()
	}
	if diff := cmp.Diff([]string{"api-b"}, names); diff != "" {
		t.Errorf("revisions before the cancel mismatch (-want +got):\n%s", diff)
	}
	if !errors.Is(gotErr, context.Canceled) {
		t.Errorf("Revisions error = %v, want context.Canceled", gotErr)
	}
}

func TestServiceCanceledContext(t *testing.T) {
	t.Parallel()
	s := NewService("api")
	mustDeploy(t, s, rel("a", stage.RouteAll))
	before := s.Snapshot()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Deploy(ctx, rel("b", stage.RouteAll)); !errors.Is(err, context.Canceled) {
		t.Errorf("Deploy = %v, want context.Canceled", err)
	}
	if _, err := s.Split(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Split = %v, want context.Canceled", err)
	}
	if _, err := s.SetSplit(ctx, traffic.Split{}); !errors.Is(err, context.Canceled) {
		t.Errorf("SetSplit = %v, want context.Canceled", err)
	}
	if diff := cmp.Diff(before, s.Snapshot()); diff != "" {
		t.Errorf("canceled calls changed the service (-before +after):\n%s", diff)
	}
}

func TestServiceSnapshotIsACopy(t *testing.T) {
	t.Parallel()
	s := NewService("api")
	mustDeploy(t, s, stage.Release{Artifact: art("a"), Revision: "a", Traffic: stage.RouteAll, Tags: []string{"dev"}, Labels: map[string]string{"k": "v"}})
	want := s.Snapshot()
	got := s.Snapshot()
	got.Split.Targets[0].Percent = 7
	got.Revisions[0].Labels["k"] = "changed"
	got.Revisions[0].TagURLs["dev"] = "changed"
	got.Revisions[0].Name = "changed"
	sp, _ := s.Split(context.Background())
	sp.Targets[0].Percent = 8
	if diff := cmp.Diff(want, s.Snapshot()); diff != "" {
		t.Errorf("mutating copies changed the service (-want +got):\n%s", diff)
	}
}

func TestServiceCalls(t *testing.T) {
	t.Parallel()
	clk := NewClock(time.Time{})
	s := NewService("api", WithClock(clk))
	ctx := context.Background()
	mustDeploy(t, s, rel("a", stage.RouteAll))
	clk.Advance(time.Second)
	_, errStale := s.SetSplit(ctx, traffic.Split{Version: "stale", Targets: []traffic.Target{to("api-a", 100, "stable")}})
	_, _ = s.Split(ctx)
	_ = s.Revisions(ctx)
	_, errGen := s.Deploy(ctx, rel("", stage.RouteNone))
	if errGen != nil {
		t.Fatal(errGen)
	}
	var genName string
	for r := range s.Revisions(ctx) {
		genName = r.Name
		break
	}
	t0 := NewClock(time.Time{}).Now()
	want := []Call{
		{Method: "Deploy", Arg: "api-a", At: t0},
		{Method: "SetSplit", Arg: "api-a=100%#stable", Err: errStale, At: t0.Add(time.Second)},
		{Method: "Split", At: t0.Add(time.Second)},
		{Method: "Revisions", At: t0.Add(time.Second)},
		{Method: "Deploy", Arg: genName, Err: errGen, At: t0.Add(time.Second)},
		{Method: "Revisions", At: t0.Add(time.Second)},
	}
	if diff := cmp.Diff(want, s.Calls(), cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
		t.Errorf("Calls() mismatch (-want +got):\n%s", diff)
	}
}

func TestSplitString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sp   traffic.Split
		want string
	}{
		{traffic.Split{}, "(empty: LATEST=100%)"},
		{traffic.Split{Targets: []traffic.Target{latest(90), to("api-a", 10), to("api-b", 0, "candidate")}}, "LATEST=90%, api-a=10%, api-b=0%#candidate"},
	}
	for _, tt := range tests {
		if got := splitString(tt.sp); got != tt.want {
			t.Errorf("splitString(%v) = %q, want %q", tt.sp.Targets, got, tt.want)
		}
	}
}

func TestServiceFuncs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var deployNs, splitNs, revNs []int
	s := NewService("api", WithServiceFuncs(ServiceFuncs{
		Deploy: func(ctx context.Context, n int, next ServiceBackend, r stage.Release) (stage.Revision, error) {
			deployNs = append(deployNs, n)
			if n == 3 {
				return stage.Revision{}, fmt.Errorf("injected quota error: %w", twostage.ErrConflict)
			}
			return next.Deploy(ctx, r)
		},
		Split: func(ctx context.Context, n int, next ServiceBackend) (traffic.Split, error) {
			splitNs = append(splitNs, n)
			return next.Split(ctx)
		},
		// Fail the 2nd SetSplit as if another writer had won the race.
		SetSplit: func(ctx context.Context, n int, next ServiceBackend, sp traffic.Split) (traffic.Split, error) {
			if n == 2 {
				return traffic.Split{}, twostage.ErrConflict
			}
			return next.SetSplit(ctx, sp)
		},
		Revisions: func(ctx context.Context, n int, next ServiceBackend) iter.Seq2[stage.Revision, error] {
			revNs = append(revNs, n)
			return func(yield func(stage.Revision, error) bool) {
				yield(stage.Revision{}, fmt.Errorf("injected: %w", twostage.ErrNotFound))
			}
		},
	}))
	mustDeploy(t, s, rel("a", stage.RouteAll))
	mustDeploy(t, s, rel("b", stage.RouteNone))
	if _, err := s.Deploy(ctx, rel("c", stage.RouteNone)); !errors.Is(err, twostage.ErrConflict) {
		t.Errorf("3rd Deploy = %v, want the injected ErrConflict", err)
	}
	mustSetSplit(t, s, to("api-a", 100))
	sp, _ := s.Split(ctx)
	sp.Targets = []traffic.Target{to("api-b", 100)}
	if _, err := s.SetSplit(ctx, sp); !errors.Is(err, twostage.ErrConflict) {
		t.Errorf("2nd SetSplit = %v, want the injected ErrConflict", err)
	}
	if _, err := s.SetSplit(ctx, sp); err != nil {
		t.Errorf("3rd SetSplit = %v, want success (the injected failure changed nothing)", err)
	}
	for _, err := range s.Revisions(ctx) {
		if !errors.Is(err, twostage.ErrNotFound) {
			t.Errorf("Revisions yielded %v, want the injected error", err)
		}
	}
	if diff := cmp.Diff([]int{1, 2, 3}, deployNs); diff != "" {
		t.Errorf("Deploy n mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{1, 2}, splitNs); diff != "" {
		t.Errorf("Split n mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{1}, revNs); diff != "" {
		t.Errorf("Revisions n mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"api-b", "api-a"}, revSummary(s.Snapshot().Revisions)); diff != "" {
		t.Errorf("revisions mismatch (-want +got):\n%s", diff)
	}
}

// TestServiceFuncsRaceAnotherWriter lets a hook call next to simulate a
// concurrent writer between the caller's read and write.
func TestServiceFuncsRaceAnotherWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewService("api", WithServiceFuncs(ServiceFuncs{
		SetSplit: func(ctx context.Context, n int, next ServiceBackend, sp traffic.Split) (traffic.Split, error) {
			if n == 1 {
				// Someone else rolls back first, unconditionally.
				if _, err := next.SetSplit(ctx, traffic.Split{Targets: []traffic.Target{to("api-a", 100)}, State: "rolled back"}); err != nil {
					return traffic.Split{}, err
				}
			}
			return next.SetSplit(ctx, sp)
		},
	}))
	mustDeploy(t, s, rel("a", stage.RouteAll))
	mustDeploy(t, s, rel("b", stage.RouteNone))
	sp, _ := s.Split(ctx)
	sp.Targets = []traffic.Target{to("api-a", 95), to("api-b", 5)}
	if _, err := s.SetSplit(ctx, sp); !errors.Is(err, twostage.ErrConflict) {
		t.Fatalf("SetSplit after another writer = %v, want ErrConflict", err)
	}
	got, _ := s.Split(ctx)
	if got.State != "rolled back" {
		t.Errorf("State = %q, want the other writer's", got.State)
	}
	if n := len(s.Calls()); n != 5 {
		t.Errorf("%d calls recorded, want 5 (the hook's calls of next are not recorded)", n)
	}
}

func TestServiceConcurrentSetSplitOneWins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewService("api")
	mustDeploy(t, s, rel("a", stage.RouteAll))
	mustDeploy(t, s, rel("b", stage.RouteNone))
	cur, err := s.Split(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const writers = 8
	var wins, conflicts atomic.Int32
	var winner atomic.Value
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			sp := cur.Clone()
			sp.Targets = []traffic.Target{to("api-a", 100-i), to("api-b", i)}
			sp.State = fmt.Sprint("writer ", i)
			<-start
			switch _, err := s.SetSplit(ctx, sp); {
			case err == nil:
				wins.Add(1)
				winner.Store(sp)
			case errors.Is(err, twostage.ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("writer %d: SetSplit = %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != writers-1 {
		t.Fatalf("%d writers won and %d conflicted, want 1 and %d", wins.Load(), conflicts.Load(), writers-1)
	}
	got, _ := s.Split(ctx)
	w := winner.Load().(traffic.Split)
	if diff := cmp.Diff(w.Targets, got.Targets); diff != "" {
		t.Errorf("stored targets are not the winner's (-winner +stored):\n%s", diff)
	}
	if got.State != w.State {
		t.Errorf("stored State %q, winner's %q: targets and state were not written together", got.State, w.State)
	}
}

func TestServiceConcurrentMixed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := NewClock(time.Time{})
	s := NewService("api", WithClock(clk))
	mustDeploy(t, s, rel("base", stage.RouteAll))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 10 {
				r := rel(fmt.Sprintf("g%d-%d", g, i), stage.RouteNone, fmt.Sprintf("t%d", g))
				if _, err := s.Deploy(ctx, r); err != nil {
					t.Error(err)
				}
				clk.Advance(time.Millisecond)
			}
		})
		wg.Go(func() {
			for range 10 {
				sp, err := s.Split(ctx)
				if err != nil {
					t.Error(err)
					continue
				}
				// Retry on conflict like the rollout engine.
				sp.State = fmt.Sprint("reader ", g)
				if _, err := s.SetSplit(ctx, sp); err != nil && !errors.Is(err, twostage.ErrConflict) {
					t.Error(err)
				}
				for _, err := range s.Revisions(ctx) {
					if err != nil {
						t.Error(err)
					}
				}
				_ = s.Snapshot()
				_ = s.Calls()
			}
		})
	}
	wg.Wait()
	st := s.Snapshot()
	if got, want := len(st.Revisions), 41; got != want {
		t.Errorf("%d revisions, want %d", got, want)
	}
	if err := traffic.Validate(st.Split, "api"); err != nil {
		t.Errorf("final split is invalid: %v", err)
	}
}

func TestNewServicePanicsOnBadName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "Api", "api-", "1api", "api.x", strings.Repeat("a", 50)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Errorf("NewService(%q) did not panic", name)
				}
			}()
			NewService(name)
		})
	}
	NewService(strings.Repeat("a", 49)) // the longest allowed
}

func BenchmarkServiceDeploySetSplit(b *testing.B) {
	ctx := context.Background()
	s := NewService("api")
	mustDeploy(b, s, rel("base", stage.RouteAll))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		name := "r" + fmt.Sprint(i)
		if _, err := s.Deploy(ctx, rel(name, stage.RouteNone, "candidate")); err != nil {
			b.Fatal(err)
		}
		sp, err := s.Split(ctx)
		if err != nil {
			b.Fatal(err)
		}
		sp.Targets = []traffic.Target{to("api-base", 95, "stable"), to("api-"+name, 5, "candidate")}
		if _, err := s.SetSplit(ctx, sp); err != nil {
			b.Fatal(err)
		}
	}
}

func TestWithDeployed(t *testing.T) {
	t.Parallel()
	s := NewService("api", WithDeployed(rel("a", stage.RouteAll), rel("b", stage.RouteNone, "candidate")))
	st := s.Snapshot()
	if diff := cmp.Diff([]traffic.Target{to("api-a", 100), to("api-b", 0, "candidate")}, st.Split.Targets); diff != "" {
		t.Errorf("seeded split mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"api-b", "api-a"}, revSummary(st.Revisions)); diff != "" {
		t.Errorf("seeded revisions mismatch (-want +got):\n%s", diff)
	}
	if c := s.Calls(); len(c) != 0 {
		t.Errorf("seeding recorded calls: %v", c)
	}
	// Hooks count from the first call after construction.
	var first int
	h := NewService("api", WithDeployed(rel("a", stage.RouteAll)), WithServiceFuncs(ServiceFuncs{
		Deploy: func(ctx context.Context, n int, next ServiceBackend, r stage.Release) (stage.Revision, error) {
			first = n
			return next.Deploy(ctx, r)
		},
	}))
	mustDeploy(t, h, rel("b", stage.RouteAll))
	if first != 1 {
		t.Errorf("first Deploy after seeding had n = %d, want 1", first)
	}
}

func TestWithDeployedPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("WithDeployed of a RouteNone release on a missing service did not panic")
		}
	}()
	NewService("api", WithDeployed(rel("a", stage.RouteNone)))
}

// TestServiceShortensNamesLikeCloudRun: the fake derives revision names
// with stage.RevisionName, as stage/cloudrun does, so a release of a long
// service that works in production works on the fake, and two tags on one
// commit get two revisions. On the old code a name over 63 characters was
// refused with ErrInvalid.
func TestServiceShortensNamesLikeCloudRun(t *testing.T) {
	t.Parallel()
	svc := NewService(strings.Repeat("s", 45))
	mustDeploy(t, svc, rel("a", stage.RouteAll))
	const sha = "abcdef1234567890abcdef1234567890abcdef12"
	for _, tag := range []string{"v1.4.2-rc.1", "v1.4.2-rc.2"} {
		suffix, err := stage.ReleaseSuffix(tag, sha)
		if err != nil {
			t.Fatal(err)
		}
		want, err := stage.RevisionName(svc.Name(), suffix)
		if err != nil {
			t.Fatal(err)
		}
		rev, err := svc.Deploy(t.Context(), stage.Release{Artifact: art("b"), Revision: suffix, Traffic: stage.RouteNone})
		if err != nil || rev.Name != want {
			t.Fatalf("Deploy(%s) = %q, %v; want %q as stage/cloudrun names it", tag, rev.Name, err, want)
		}
		if got, err := svc.Revision(t.Context(), suffix); err != nil || got.Name != want {
			t.Errorf("Revision(%q) = %q, %v; want %q", suffix, got.Name, err, want)
		}
	}
	if n := len(svc.Snapshot().Revisions); n != 3 {
		t.Errorf("%d revisions, want 3 (one per tag)", n)
	}
}
