package reliability

import (
	"strings"
	"testing"

	"cloud.google.com/go/run/apiv2/runpb"

	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/traffic"
)

func rev(name string, ready bool) *runpb.Revision {
	st := runpb.Condition_CONDITION_SUCCEEDED
	if !ready {
		st = runpb.Condition_CONDITION_FAILED
	}
	return &runpb.Revision{Name: "projects/p/locations/r/services/s/revisions/" + name, Conditions: []*runpb.Condition{{Type: "Ready", State: st}}}
}

func svcWith(spec []int32, status map[string]int32, state string) *runpb.Service {
	s := &runpb.Service{Annotations: map[string]string{}}
	for _, p := range spec {
		s.Traffic = append(s.Traffic, &runpb.TrafficTarget{Percent: p})
	}
	for r, p := range status {
		s.TrafficStatuses = append(s.TrafficStatuses, &runpb.TrafficTargetStatus{Revision: r, Percent: p})
	}
	if state != "" {
		s.Annotations[cloudrun.StateAnnotation] = state
	}
	return s
}

// TestCheckTraffic proves the traffic invariants can fail.
func TestCheckTraffic(t *testing.T) {
	t.Parallel()
	revs := []*runpb.Revision{rev("a", true), rev("b", false)}
	tests := []struct {
		name string
		svc  *runpb.Service
		want string // substring of the violation; "" for none
	}{
		{"valid", svcWith([]int32{100}, map[string]int32{"a": 100}, ""), ""},
		{"not created", nil, ""},
		{"declared sum", svcWith([]int32{90}, map[string]int32{"a": 100}, ""), "declared traffic percents add up to 90"},
		{"served sum", svcWith([]int32{100}, map[string]int32{"a": 95}, ""), "served traffic percents add up to 95"},
		{"not ready", svcWith([]int32{95, 5}, map[string]int32{"a": 95, "b": 5}, ""), "b serves 5% but is not Ready"},
		{"missing", svcWith([]int32{100}, map[string]int32{"c": 100}, ""), "c serves 100% but is not Ready (exists: false)"},
		{"bad state", svcWith([]int32{100}, map[string]int32{"a": 100}, "{not json"), "does not decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var c Checker
			CheckTraffic(&c, "svc", tc.svc, revs)
			err := c.Err()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckTraffic = %v, want no violation", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("CheckTraffic = %v, want a violation containing %q", err, tc.want)
			}
		})
	}
}

// TestStateWatch proves the rollout-state invariants can fail.
func TestStateWatch(t *testing.T) {
	t.Parallel()
	prog := func(c string, step int) traffic.RolloutState {
		return traffic.RolloutState{Candidate: c, Phase: traffic.Progressing, Step: step}
	}
	done := traffic.RolloutState{Candidate: "b", Phase: traffic.Succeeded, Step: 3}
	tests := []struct {
		name string
		seq  []traffic.RolloutState
		want string
	}{
		{"forward", []traffic.RolloutState{{}, prog("b", 1), prog("b", 2), done, prog("c", 1)}, ""},
		{"lost", []traffic.RolloutState{prog("b", 1), {}}, "was lost"},
		{"backwards", []traffic.RolloutState{prog("b", 2), prog("b", 1)}, "went back from step 2 to 1"},
		{"undone", []traffic.RolloutState{done, prog("b", 3)}, "went from Succeeded back to Progressing"},
		{"replaced", []traffic.RolloutState{prog("b", 1), prog("c", 1)}, "replaced the unfinished rollout of b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var (
				c Checker
				w StateWatch
			)
			for _, st := range tc.seq {
				w.Observe(&c, "prod", st)
			}
			err := c.Err()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("StateWatch = %v, want no violation", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("StateWatch = %v, want a violation containing %q", err, tc.want)
			}
			if c.Checks() == 0 {
				t.Error("no checks counted")
			}
		})
	}
}
