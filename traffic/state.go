package traffic

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Phase is where a rollout stands.
type Phase string

const (
	// Progressing: traffic is moving to the candidate step by step.
	Progressing Phase = "Progressing"
	// Paused: a step stayed inconclusive past its maximum wait, or a person
	// paused it; traffic stays where it is until Resume, Promote or Abort.
	Paused Phase = "Paused"
	// Watching: the candidate serves 100% and carries the "stable" tag (the
	// previous stable one the "prior" tag), and the gates are still asked
	// for the watch period ([WithWatch]): a Fail sends 100% back to the
	// previous stable revision in one write, the end of the period makes
	// the rollout Succeeded. The rollout is under way: a new release waits
	// for the watch to end, or for a person to promote (Advance) or abort.
	Watching Phase = "Watching"
	// Succeeded: the candidate serves 100% and carries the "stable" tag.
	Succeeded Phase = "Succeeded"
	// RolledBack: 100% went back to the stable revision after the
	// candidate had been judged: a gate failed during the rollout or its
	// watch, or a person rolled back (Abort) a rollout that had Succeeded.
	RolledBack Phase = "RolledBack"
	// Aborted: a rollout was stopped before it succeeded, by a person
	// (Abort during a rollout under way) or by a failed pre-traffic check
	// (pipeline.Release), and 100% went (or stayed) on the stable revision.
	Aborted Phase = "Aborted"
)

// AwaitsPromotion reports whether revision, serving no traffic, may still
// be rolled out: the rollout recorded in s did not end with it rolled back
// or aborted (a release deployed with no traffic awaits its rollout; one
// that was rolled back never serves again).
func AwaitsPromotion(s Split, revision string) bool {
	st, err := DecodeState(s.State)
	return err != nil || st.Candidate != revision || !(st.Phase == RolledBack || st.Phase == Aborted)
}

// Done reports whether the phase is terminal.
func (p Phase) Done() bool { return p == Succeeded || p == RolledBack || p == Aborted }

// Tags the rollout engine maintains.
const (
	// TagCandidate points at the revision being rolled out (its preview URL).
	TagCandidate = "candidate"
	// TagStable points at the revision that serves when no rollout runs.
	TagStable = "stable"
	// TagPrior points at the previous stable revision after a success, so a
	// rollback is one write.
	TagPrior = "prior"
)

// RolloutState is the rollout engine's record. It is stored, encoded by
// [RolloutState.Encode], in [Split.State] and written in the same write as the
// traffic it describes, so a crashed runner can resume from the service alone.
type RolloutState struct {
	// Candidate is the revision being rolled out.
	Candidate string `json:"candidate"`
	// Stable is the revision that served 100% when the rollout began.
	Stable string `json:"stable"`
	// Phase is where the rollout stands.
	Phase Phase `json:"phase"`
	// Step is the 1-based index of the plan step whose traffic is applied;
	// 0 before the first write.
	Step int `json:"step"`
	// Percents are the plan's step percents, to detect a changed plan on
	// resume.
	Percents []int `json:"percents"`
	// StepStarted is when the current step's traffic took effect.
	StepStarted time.Time `json:"stepStarted"`
	// Started is when the rollout began; with Candidate and Stable it
	// identifies the rollout (see [Check.Started]).
	Started time.Time `json:"started,omitzero"`
	// Reason explains the last transition.
	Reason string `json:"reason,omitempty"`
}

// stateVersion prefixes encoded states so the format can evolve.
const stateVersion = "twostage/v1 "

// Encode returns the state's string form for [Split.State].
func (s RolloutState) Encode() string {
	b, err := json.Marshal(s)
	if err != nil { // only basic types: cannot happen
		panic(fmt.Sprintf("traffic: encoding rollout state: %v", err))
	}
	return stateVersion + string(b)
}

// DecodeState parses a [Split.State]. An empty string yields the zero state
// (no rollout ever ran) and no error. Errors wrap twostage.ErrInvalid.
func DecodeState(s string) (RolloutState, error) {
	if s == "" {
		return RolloutState{}, nil
	}
	body, ok := strings.CutPrefix(s, stateVersion)
	if !ok {
		return RolloutState{}, invalidf("rollout state %.40q does not start with %q; it was not written by this version of twostage", s, strings.TrimSpace(stateVersion))
	}
	var st RolloutState
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return RolloutState{}, invalidf("decoding rollout state: %v", err)
	}
	switch st.Phase {
	case Progressing, Paused, Watching, Succeeded, RolledBack, Aborted:
	default:
		return RolloutState{}, invalidf("rollout state has unknown phase %q", st.Phase)
	}
	if st.Candidate == "" || st.Step < 0 || st.Step > len(st.Percents) {
		return RolloutState{}, invalidf("rollout state is inconsistent (candidate %q, step %d of %d)", st.Candidate, st.Step, len(st.Percents))
	}
	if st.Phase == Watching && st.Step != len(st.Percents) {
		return RolloutState{}, invalidf("rollout state is inconsistent: %s at step %d of %d (a watch follows the last step)", st.Phase, st.Step, len(st.Percents))
	}
	return st, nil
}
