package pipeline

import (
	"context"
	"fmt"
	"sync"

	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// PromoteInput says which prod revision to promote.
type PromoteInput struct {
	// Revision is the revision to roll out. Empty means the rollout under
	// way, or else the revision tagged "candidate" (the last release).
	Revision string
	// Actor is who asked, for the audit trail.
	Actor string
	// Manual, if set, moves the rollout under way past its gates by hand,
	// one step (ManualNext) or straight to 100% (ManualFull), and returns
	// without waiting for further steps.
	Manual Manual
}

// Manual is a promotion a person decides, skipping the gates.
type Manual string

const (
	// ManualNext advances the rollout under way by one step.
	ManualNext Manual = "next"
	// ManualFull sends the rollout under way straight to 100%.
	ManualFull Manual = "full"
)

// Promote rolls a released revision out in prod: its share rises per the
// plan (default 5% → 25% → 100%), each step baked and gated; at 100% it
// takes the "stable" tag and the previous stable keeps "prior". A failing
// gate rolls back in one write to the previous stable revision and Promote
// returns an error wrapping traffic.ErrRolledBack (a *traffic.RolloutError
// with the step and the verdicts). Each step, gate verdict and rollback is
// an audit event.
//
// Promote resumes from the rollout state stored in the prod service, so
// running it again after a crash or an error applies no step twice.
func (p *Pipeline) Promote(ctx context.Context, in PromoteInput) (traffic.Result, error) {
	obs := p.observer(ctx, in.Actor)
	ro, err := p.rollout(traffic.WithObserver(obs.observe))
	if err != nil {
		return traffic.Result{}, err
	}
	// Gates that run something for the rollout's duration (a prober.Gate's
	// synthetic requests) stop when Promote returns.
	for _, g := range p.gates {
		if s, ok := g.(traffic.Stopper); ok {
			defer s.Stop()
		}
	}
	var res traffic.Result
	switch in.Manual {
	case "":
		res, err = ro.Run(ctx, in.Revision)
	case ManualNext, ManualFull:
		res, err = ro.Advance(ctx, in.Manual == ManualFull)
	default:
		return res, invalid(fmt.Sprintf("PromoteInput.Manual %q is not %q or %q", in.Manual, ManualNext, ManualFull))
	}
	if err != nil {
		err = fmt.Errorf("pipeline: promote: %w", err)
	}
	return res, joinErrs([]error{err, obs.err()})
}

// RollbackInput says why prod is rolled back.
type RollbackInput struct {
	// Reason is recorded in the rollout state and the audit trail.
	Reason string
	// Actor is who asked.
	Actor string
}

// Rollback sends 100% of prod traffic back to the previous stable revision
// in one write: during a rollout it aborts it; after one succeeded it
// returns to the revision that served before. It never redeploys. A
// rollback that finds the stable revision serving already writes nothing
// and is audited as "unchanged", since a person asked for it.
func (p *Pipeline) Rollback(ctx context.Context, in RollbackInput) (traffic.Result, error) {
	obs := p.observer(ctx, in.Actor)
	ro, err := p.rollout(traffic.WithObserver(obs.observe))
	if err != nil {
		return traffic.Result{}, err
	}
	res, err := ro.Abort(ctx, in.Reason)
	if err != nil {
		err = fmt.Errorf("pipeline: rollback: %w", err)
	} else if obs.count() == 0 {
		st := res.State
		obs.mu.Lock()
		obs.unchanged = true
		obs.mu.Unlock()
		obs.observe(traffic.Event{
			Kind: traffic.EventRollback, Candidate: st.Candidate, Stable: st.Stable, Step: st.Step,
			Before: res.Split, After: res.Split,
			Reason: fmt.Sprintf("%s serves 100%% already (rollout of %s %s: %s); nothing written", st.Stable, st.Candidate, st.Phase, st.Reason),
		})
	}
	return res, joinErrs([]error{err, obs.err()})
}

// rolloutObserver turns rollout events into audit events, each naming the
// candidate's (and the stable's) commit, digest and ref.
type rolloutObserver struct {
	p     *Pipeline
	ctx   context.Context
	actor string

	mu        sync.Mutex // guards every field below
	errs      []error
	n         int                       // events observed
	revs      map[string]stage.Revision // revisions read so far, by name
	cur       string                    // the traffic as last written or read, in Split.String form
	unchanged bool                      // the next rollback event wrote nothing
}

func (p *Pipeline) observer(ctx context.Context, actor string) *rolloutObserver {
	return &rolloutObserver{p: p, ctx: ctx, actor: actor}
}

func (o *rolloutObserver) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

// revision returns the prod revision called name, read once (stage.Getter,
// else stage.Lister); the zero Revision if it cannot be read.
func (o *rolloutObserver) revision(name string) stage.Revision {
	if name == "" {
		return stage.Revision{}
	}
	o.mu.Lock()
	r, ok := o.revs[name]
	o.mu.Unlock()
	if ok {
		return r
	}
	r, _ = findRevision(o.ctx, o.p.prod, name)
	o.mu.Lock()
	if o.revs == nil {
		o.revs = make(map[string]stage.Revision)
	}
	o.revs[name] = r
	o.mu.Unlock()
	return r
}

// traffic returns the traffic as last written or read, reading it on the
// first event that wrote none.
func (o *rolloutObserver) traffic() string {
	o.mu.Lock()
	cur := o.cur
	o.mu.Unlock()
	if cur != "" {
		return cur
	}
	if sp, err := o.p.prod.Split(o.ctx); err == nil {
		cur = auditSplit(sp)
		o.mu.Lock()
		o.cur = cur
		o.mu.Unlock()
	}
	return cur
}

func (o *rolloutObserver) observe(ev traffic.Event) {
	cand, stable := o.revision(ev.Candidate), o.revision(ev.Stable)
	e := AuditEvent{
		Time: ev.Time, Actor: o.actor, Stage: "prod", Revision: ev.Candidate,
		Ref: cand.Labels[stage.LabelRef], SHA: cand.Labels[stage.LabelCommit], Digest: cand.Artifact.Digest,
		Stable: ev.Stable, StableDigest: stable.Artifact.Digest,
		Step: ev.Step, Percent: ev.Percent, Reason: ev.Reason, Verdicts: ev.Verdicts,
	}
	if ev.Before.Targets != nil || ev.After.Targets != nil {
		e.Before, e.After = auditSplit(ev.Before), auditSplit(ev.After)
		o.mu.Lock()
		o.cur = e.After
		o.mu.Unlock()
	} else {
		e.Before = o.traffic()
		e.After = e.Before
	}
	o.mu.Lock()
	o.n++
	unchanged := o.unchanged
	o.mu.Unlock()
	switch ev.Kind {
	case traffic.EventStep:
		e.Action, e.Decision = ActionStep, "advanced"
		if ev.Percent == 100 {
			e.Decision = "succeeded"
			if ev.Phase == traffic.Watching {
				e.Decision = "watching" // the watch decides; see EventWatched
			}
		}
	case traffic.EventWatched:
		e.Action, e.Decision = ActionStep, "succeeded"
	case traffic.EventResume:
		e.Action, e.Decision = ActionStep, "resumed"
	case traffic.EventGate:
		e.Action, e.Decision = ActionGate, ev.Reason
		e.Reason = gateSummary(ev.Verdicts)
	case traffic.EventRollback:
		e.Action, e.Decision = ActionRollback, "rolled back"
		if unchanged || ev.Before.Version != "" && ev.Before.Version == ev.After.Version {
			e.Decision = "unchanged"
		}
	case traffic.EventPause:
		e.Action, e.Decision = ActionPause, "paused"
	default:
		e.Action, e.Decision = AuditAction("promote."+string(ev.Kind)), string(ev.Kind)
	}
	if err := o.p.record(o.ctx, e); err != nil {
		o.mu.Lock()
		o.errs = append(o.errs, err)
		o.mu.Unlock()
	}
}

func (o *rolloutObserver) err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return joinErrs(o.errs)
}

func gateSummary(vs []traffic.Verdict) string {
	if len(vs) == 0 {
		return "no gates: the step passes when its bake time is over"
	}
	s := ""
	for i, v := range vs {
		if i > 0 {
			s += "; "
		}
		s += fmt.Sprintf("%s %s: %s", v.Gate, v.Outcome, v.Reason)
	}
	return s
}
