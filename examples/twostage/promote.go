package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/examples/twostage/internal/ghactions"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/traffic"
)

func (a *app) cmdPromote(ctx context.Context, args []string) (any, error) {
	fs := a.flags("promote")
	a.virtualFlag(fs)
	revision := fs.String("revision", "", "the revision to roll out (default the rollout under way, else the candidate)")
	manual := fs.String("manual", "", "next or full: move the rollout past its gates by hand (a released candidate with no rollout under way starts at its first step)")
	start := fs.Bool("start", false, "start the rollout of the candidate at its first step and return; `promote --resume` continues it behind the gates")
	resume := fs.Bool("resume", false, "continue only a rollout a person started (never start one); a rollout still paused exits 0 with a notice (for schedules)")
	ifPending := fs.Bool("if-pending", false, "exit 0 without doing anything when no release waits and no rollout is under way")
	actor := fs.String("actor", "", "who promotes (default $GITHUB_ACTOR, else $USER)")
	if err := a.parse(fs, args); err != nil {
		return nil, err
	}
	switch pipeline.Manual(*manual) {
	case "", pipeline.ManualNext, pipeline.ManualFull:
	default:
		return nil, usagef("--manual %q: use next or full", *manual)
	}
	modes := 0
	for _, on := range []bool{*manual != "", *start, *resume} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		return nil, usagef("--manual, --start and --resume are exclusive")
	}
	if *resume && *revision != "" {
		return nil, usagef("--resume continues the rollout under way; it takes no --revision")
	}
	if _, err := a.open(ctx); err != nil {
		return nil, err
	}
	who := a.actor(*actor)
	if *resume {
		return a.resume(ctx, who)
	}
	var results []rolloutResult
	for i, r := range a.regions {
		st, err := a.state(ctx, r)
		if err != nil {
			return a.promoted(results), err
		}
		if (*ifPending && *revision == "" || *manual != "" && len(a.regions) > 1 || *start && i > 0) && !st.pending() {
			results = append(results, rolloutResult{Region: r.name, Nothing: true})
			continue
		}
		if *start && st.underWay() {
			results = append(results, rolloutResult{Region: r.name, Nothing: true, Candidate: st.Candidate, Phase: st.Phase, Step: st.Step, Reason: "already under way; the resume job continues it"})
			break
		}
		end := a.group("promote in " + r.name)
		var res traffic.Result
		switch {
		case *start || *manual != "" && !st.underWay():
			// Starting is what a person pressing "next" on a fresh
			// candidate means: the rollout begins at its first step.
			res, err = a.startRollout(ctx, r, *revision, who)
			if err == nil && *manual == string(pipeline.ManualFull) {
				res, err = r.pipe.Promote(ctx, pipeline.PromoteInput{Actor: who, Manual: pipeline.ManualFull})
			}
		default:
			res, err = r.pipe.Promote(ctx, pipeline.PromoteInput{Revision: *revision, Actor: who, Manual: pipeline.Manual(*manual)})
		}
		end()
		out := newRolloutResult(r.name, res)
		out.Manual = *manual
		results = append(results, out)
		if err != nil {
			if i > 0 && errors.Is(err, traffic.ErrRolledBack) {
				// A region rolled back: undo the regions already promoted,
				// so every region serves the same release.
				err = errors.Join(err, a.undo(ctx, a.regions[:i], fmt.Sprintf("rolled back because the rollout in %s rolled back", r.name), who, results))
			}
			return a.promoted(results), a.promoteErr(err)
		}
		if *start {
			// One region at a time: the resume continues region by region.
			break
		}
	}
	return a.promoted(results), nil
}

// promoteErr adds what to do next to an interrupted promotion.
func (a *app) promoteErr(err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w; the rollout state is on the service: run `twostage promote` again to resume where it stopped, or `twostage rollback`", err)
	}
	return err
}

// errStarted stops a rollout after its first write.
var errStarted = errors.New("started")

// firstWrite is a prod service that lets one traffic write through and
// refuses the next with errStarted.
type firstWrite struct {
	pipeline.Service
	name    string
	written bool
}

func (f *firstWrite) Name() string { return f.name }

func (f *firstWrite) SetSplit(ctx context.Context, s traffic.Split) (traffic.Split, error) {
	if f.written {
		return traffic.Split{}, errStarted
	}
	got, err := f.Service.SetSplit(ctx, s)
	f.written = err == nil
	return got, err
}

// startRollout starts the rollout of revision (default the candidate) in r
// at its first step and returns once that step's traffic is written,
// without waiting for the bake or the gates: a pipeline without gates over
// the service, which lets exactly one traffic write through.
func (a *app) startRollout(ctx context.Context, r region, revision, who string) (traffic.Result, error) {
	once := &firstWrite{Service: r.prod, name: a.cfg.Services.Prod}
	p, err := pipeline.New(a.backend.Registry, a.backend.Repository, a.backend.Dev, once, a.popts...)
	if err != nil {
		return traffic.Result{}, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	a.onEvent = func(e pipeline.AuditEvent) {
		if e.Action == pipeline.ActionStep {
			cancel(errStarted)
		}
	}
	defer func() { a.onEvent = nil }()
	res, err := p.Promote(ctx, pipeline.PromoteInput{Revision: revision, Actor: who})
	if err != nil && once.written && (errors.Is(err, errStarted) || errors.Is(context.Cause(ctx), errStarted)) {
		st, serr := a.state(context.WithoutCancel(ctx), r)
		if serr != nil {
			return res, serr
		}
		res.State = st.RolloutState
		return res, nil
	}
	return res, err
}

// regionState is the rollout state recorded on a region's prod service.
type regionState struct {
	traffic.RolloutState
	// Candidate waiting: the revision tagged "candidate" that no rollout has
	// taken up yet.
	waiting string
}

// underWay reports a rollout that is neither finished nor absent.
func (s regionState) underWay() bool { return s.Candidate != "" && !s.Phase.Done() }

// pending reports that promote has something to do.
func (s regionState) pending() bool { return s.underWay() || s.waiting != "" }

// state reads region r's rollout state.
func (a *app) state(ctx context.Context, r region) (regionState, error) {
	sp, err := r.prod.Split(ctx)
	if errors.Is(err, twostage.ErrNotFound) {
		return regionState{}, nil
	}
	if err != nil {
		return regionState{}, fmt.Errorf("reading prod traffic in %s: %w", r.name, err)
	}
	st, err := traffic.DecodeState(sp.State)
	if err != nil {
		return regionState{}, err
	}
	out := regionState{RolloutState: st}
	if cand, ok := traffic.TagOf(sp, traffic.TagCandidate); ok && cand != st.Candidate && traffic.Shares(sp)[cand] < 100 {
		out.waiting = cand
	}
	return out, nil
}

// pending reports whether promote has something to do in region r.
func (a *app) pending(ctx context.Context, r region) (bool, error) {
	st, err := a.state(ctx, r)
	return st.pending(), err
}

// resume continues, behind the gates, only rollouts a person started: the
// rollout recorded on the primary region's service is the approval (only
// the protected promote job starts one); the extra regions follow a
// rollout that succeeded in the primary. A rollout still paused is not a
// failure of the schedule: exit 0 with a notice and the reason in the job
// summary.
func (a *app) resume(ctx context.Context, who string) (any, error) {
	var results []rolloutResult
	var approved string
	for i, r := range a.regions {
		st, err := a.state(ctx, r)
		if err != nil {
			return a.promoted(results), err
		}
		switch {
		case i == 0 && st.underWay():
			approved = st.Candidate
		case i == 0:
			approved = st.Candidate
			out := rolloutResult{Region: r.name, Nothing: true, Waiting: st.waiting}
			results = append(results, out)
			if st.waiting != "" {
				a.notice(fmt.Sprintf("%s waits for a person to start its rollout (promote workflow, action promote); the schedule only continues a rollout a person started", st.waiting))
			}
			if st.Phase != traffic.Succeeded || st.waiting != "" {
				return a.promoted(results), nil
			}
			continue
		case st.underWay() || st.waiting != "" && st.waiting == approved:
		default:
			results = append(results, rolloutResult{Region: r.name, Nothing: true})
			continue
		}
		end := a.group("resume in " + r.name)
		res, err := r.pipe.Promote(ctx, pipeline.PromoteInput{Actor: who})
		end()
		results = append(results, newRolloutResult(r.name, res))
		var re *traffic.RolloutError
		switch {
		case errors.As(err, &re) && errors.Is(err, traffic.ErrPaused):
			msg := fmt.Sprintf("the rollout of %s in %s is still paused at step %d (%d%%): %s. The schedule looks again in 30 minutes; decide by hand with the promote workflow (next, full or rollback).", re.Candidate, r.name, re.Step, re.Percent, re.Reason)
			a.notice(msg)
			a.summaryNote += fmt.Sprintf("**Paused**: %s\n\n", msg)
			return a.promoted(results), nil
		case err != nil:
			if i > 0 && errors.Is(err, traffic.ErrRolledBack) {
				err = errors.Join(err, a.undo(ctx, a.regions[:i], fmt.Sprintf("rolled back because the rollout in %s rolled back", r.name), who, results))
			}
			return a.promoted(results), a.promoteErr(err)
		}
		if res.State.Phase != traffic.Succeeded {
			break
		}
	}
	return a.promoted(results), nil
}

// notice prints a notice: an annotation in Actions, a line on stderr
// elsewhere.
func (a *app) notice(msg string) {
	if a.gh.Actions {
		ghactions.Notice(a.stderr, "twostage "+a.command, msg)
		return
	}
	fmt.Fprintf(a.stderr, "twostage %s: %s\n", a.command, msg)
}
