package reliability

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"

	"cloud.google.com/go/run/apiv2/runpb"

	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/traffic"
)

// Checker counts invariant checks and keeps the violations. It is safe for
// concurrent use: the suites check from the emulators' server goroutines
// after every call.
type Checker struct {
	mu         sync.Mutex // guards checks and violations
	checks     int
	violations []string
}

// Expect counts one check and records a violation, formatted like
// fmt.Sprintf, when ok is false.
func (c *Checker) Expect(ok bool, format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checks++
	if !ok {
		c.violations = append(c.violations, fmt.Sprintf(format, args...))
	}
}

// Checks returns how many checks were made.
func (c *Checker) Checks() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checks
}

// Err returns the violations (at most the first 10, then their count)
// joined, or nil.
func (c *Checker) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for i, v := range c.violations {
		if i == 10 {
			errs = append(errs, fmt.Errorf("… and %d more", len(c.violations)-10))
			break
		}
		errs = append(errs, errors.New(v))
	}
	return errors.Join(errs...)
}

// Serving returns who serves the service's traffic as the service reports
// it (traffic_statuses, LATEST resolved): short revision name → percent,
// for percents above 0.
func Serving(svc *runpb.Service) map[string]int {
	out := map[string]int{}
	for _, t := range svc.GetTrafficStatuses() {
		if t.GetPercent() > 0 {
			out[path.Base(t.GetRevision())] += int(t.GetPercent())
		}
	}
	return out
}

// Tags returns the service's traffic tags: tag → short revision name.
func Tags(svc *runpb.Service) map[string]string {
	out := map[string]string{}
	for _, t := range svc.GetTrafficStatuses() {
		if t.GetTag() != "" {
			out[t.GetTag()] = path.Base(t.GetRevision())
		}
	}
	return out
}

// State decodes the rollout state the service records (the
// [cloudrun.StateAnnotation] annotation).
func State(svc *runpb.Service) (traffic.RolloutState, error) {
	return traffic.DecodeState(svc.GetAnnotations()[cloudrun.StateAnnotation])
}

// RevisionNames returns the short names of revs, sorted.
func RevisionNames(revs []*runpb.Revision) []string {
	var out []string
	for _, r := range revs {
		out = append(out, path.Base(r.GetName()))
	}
	slices.Sort(out)
	return out
}

// ready reports whether rev's Ready condition succeeded.
func ready(rev *runpb.Revision) bool {
	for _, c := range rev.GetConditions() {
		if c.GetType() == "Ready" {
			return c.GetState() == runpb.Condition_CONDITION_SUCCEEDED
		}
	}
	return false
}

// CheckTraffic checks a service's traffic as the emulator holds it: the
// declared percents (spec traffic) add up to 100, the served percents
// (traffic_statuses) add up to 100, every revision serving traffic exists
// and is Ready, and the rollout state decodes. A nil svc (not created yet)
// passes.
func CheckTraffic(c *Checker, what string, svc *runpb.Service, revs []*runpb.Revision) {
	if svc == nil {
		return
	}
	spec := 0
	for _, t := range svc.GetTraffic() {
		spec += int(t.GetPercent())
	}
	c.Expect(spec == 100, "%s: declared traffic percents add up to %d, want 100: %v", what, spec, svc.GetTraffic())
	served := 0
	for _, p := range Serving(svc) {
		served += p
	}
	c.Expect(served == 100, "%s: served traffic percents add up to %d, want 100: %v", what, served, svc.GetTrafficStatuses())
	byName := map[string]*runpb.Revision{}
	for _, r := range revs {
		byName[path.Base(r.GetName())] = r
	}
	for rev, p := range Serving(svc) {
		r := byName[rev]
		c.Expect(r != nil && ready(r), "%s: revision %s serves %d%% but is not Ready (exists: %v)", what, rev, p, r != nil)
	}
	_, err := State(svc)
	c.Expect(err == nil, "%s: rollout state does not decode: %v", what, err)
}

// StateWatch checks that a service's rollout state is never lost nor moved
// backwards between observations: once recorded it stays; a rollout's step
// never decreases while it progresses; a finished rollout (Succeeded,
// RolledBack, Aborted) never becomes unfinished; and a new candidate
// replaces the old only once the old rollout has finished. Observe is safe
// for concurrent use.
type StateWatch struct {
	mu   sync.Mutex // guards last
	last traffic.RolloutState
}

// Observe checks st against the last observed state and remembers it.
func (w *StateWatch) Observe(c *Checker, what string, st traffic.RolloutState) {
	w.mu.Lock()
	defer w.mu.Unlock()
	last := w.last
	c.Expect(last.Candidate == "" || st.Candidate != "", "%s: rollout state of %s (%s) was lost", what, last.Candidate, last.Phase)
	switch {
	case st.Candidate == "":
	case st.Candidate == last.Candidate:
		c.Expect(!last.Phase.Done() || st.Phase.Done(), "%s: rollout of %s went from %s back to %s", what, st.Candidate, last.Phase, st.Phase)
		c.Expect(!(last.Phase == traffic.Progressing && st.Phase == traffic.Progressing) || st.Step >= last.Step,
			"%s: rollout of %s went back from step %d to %d", what, st.Candidate, last.Step, st.Step)
	default:
		c.Expect(last.Candidate == "" || last.Phase.Done(), "%s: rollout of %s replaced the unfinished rollout of %s (%s)", what, st.Candidate, last.Candidate, last.Phase)
	}
	if st.Candidate != "" {
		w.last = st
	}
}

// Describe renders a serving map for messages: "a=95%,b=5%" in name order.
func Describe(serving map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(serving)) {
		parts = append(parts, fmt.Sprintf("%s=%d%%", k, serving[k]))
	}
	return strings.Join(parts, ",")
}
