package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// PruneInput says which revisions Prune keeps and whether it deletes.
type PruneInput struct {
	// Keep is how many of the newest unprotected revisions each stage
	// keeps, besides the protected ones (see [Prune]). Must be ≥ 0.
	Keep int
	// Apply deletes; without it Prune is a dry run that only selects.
	Apply bool
	// Stage limits Prune to "dev" or "prod"; empty prunes both.
	Stage string
	// Actor is who asked, for the audit trail.
	Actor string
}

// Pruned is what Prune selected, and deleted, in one service.
type Pruned struct {
	// Stage is "dev" or "prod".
	Stage string
	// Kept are the revisions kept, newest first: the protected ones and
	// the newest Keep others.
	Kept []string
	// Delete are the revisions selected for deletion, newest first.
	Delete []string
	// Deleted are the revisions deleted (Apply), in the order deleted; a
	// selected revision that was gone already counts as deleted.
	Deleted []string
	// Skipped are selected revisions the service refused to delete
	// because they began to serve or took a tag after the selection
	// (twostage.ErrConflict); they are kept.
	Skipped []string
}

// PruneResult is what Prune did in each stage, dev first; a stage whose
// service does not exist is left out.
type PruneResult struct {
	Stages []Pruned
}

// Prune deletes the revisions that serve no traffic and hold no tag,
// keeping the newest in.Keep of them per stage. Cloud Run keeps at most
// 1,000 revisions per service and deletes the oldest beyond that
// (cloud.google.com/run/docs/managing/revisions: "If you exceed that
// limit, older revisions are automatically deleted"), which could take a
// revision a rollback needs; Prune chooses instead. Never selected
// (protected):
//
//   - revisions with a share of the traffic, including the one LATEST
//     reaches;
//   - revisions with a tag: the stable, prior and candidate revisions and
//     any preview tag;
//   - the rollout's candidate and stable revisions, from the state stored
//     in the service;
//   - the latest revision, which the service's template names.
//
// Deleting needs a service that is a [stage.Deleter]; selecting needs a
// [stage.Lister]. Every stage pruned with Apply is recorded as an audit
// event ("prune", decision "deleted" or "unchanged"). A revision that takes
// traffic or a tag between selection and deletion is refused by the
// service and reported in Pruned.Skipped; nothing that serves is ever
// deleted. On an error, the result says what was deleted before it.
func (p *Pipeline) Prune(ctx context.Context, in PruneInput) (PruneResult, error) {
	var out PruneResult
	if in.Keep < 0 {
		return out, invalid(fmt.Sprintf("prune: Keep %d: want 0 or more", in.Keep))
	}
	switch in.Stage {
	case "", "dev", "prod":
	default:
		return out, invalid(fmt.Sprintf("prune: Stage %q: want \"dev\", \"prod\" or empty for both", in.Stage))
	}
	type named struct {
		name string
		s    Service
	}
	var stages []named
	if in.Stage != "prod" {
		stages = append(stages, named{"dev", p.dev})
	}
	if in.Stage != "dev" {
		stages = append(stages, named{"prod", p.prod})
	}
	for _, st := range stages {
		pr, err := pruneService(ctx, st.name, st.s, in)
		if errors.Is(err, twostage.ErrNotFound) && len(pr.Kept)+len(pr.Delete) == 0 {
			continue // the service does not exist yet
		}
		if len(pr.Kept)+len(pr.Delete) > 0 {
			out.Stages = append(out.Stages, pr)
		}
		if in.Apply && len(pr.Kept)+len(pr.Delete) > 0 {
			err = errors.Join(err, p.recordPrune(ctx, pr, in.Actor))
		}
		if err != nil {
			return out, fmt.Errorf("pipeline: prune %s: %w", st.name, err)
		}
	}
	return out, nil
}

// pruneService selects, and with in.Apply deletes, in one service.
func pruneService(ctx context.Context, name string, s Service, in PruneInput) (Pruned, error) {
	out := Pruned{Stage: name}
	l, ok := s.(stage.Lister)
	if !ok {
		return out, fmt.Errorf("the %s service %T cannot list its revisions (stage.Lister): %w", name, s, twostage.ErrInvalid)
	}
	var del stage.Deleter
	if in.Apply {
		if del, ok = s.(stage.Deleter); !ok {
			return out, fmt.Errorf("the %s service %T cannot delete revisions (stage.Deleter): %w", name, s, twostage.ErrInvalid)
		}
	}
	sp, err := s.Split(ctx)
	if err != nil {
		return out, err
	}
	protected := protectedRevisions(sp)
	kept := 0
	for rev, err := range l.Revisions(ctx) {
		if err != nil {
			return out, err
		}
		switch {
		case protected[rev.Name]:
			out.Kept = append(out.Kept, rev.Name)
		case kept < in.Keep:
			kept++
			out.Kept = append(out.Kept, rev.Name)
		default:
			out.Delete = append(out.Delete, rev.Name)
		}
	}
	if del == nil {
		return out, nil
	}
	// Oldest first: an interrupted prune leaves the newest of the
	// selection, as a smaller Keep would have.
	for i := len(out.Delete) - 1; i >= 0; i-- {
		rev := out.Delete[i]
		err := del.DeleteRevision(ctx, rev)
		switch {
		case err == nil, errors.Is(err, twostage.ErrNotFound):
			out.Deleted = append(out.Deleted, rev)
		case errors.Is(err, twostage.ErrConflict):
			out.Skipped = append(out.Skipped, rev)
		default:
			return out, fmt.Errorf("deleting revision %s: %w", rev, err)
		}
	}
	return out, nil
}

// protectedRevisions are the revisions of sp that Prune never selects.
func protectedRevisions(sp traffic.Split) map[string]bool {
	protected := map[string]bool{sp.LatestRevision: true}
	for rev, pct := range traffic.Shares(sp) {
		if pct > 0 {
			protected[rev] = true
		}
	}
	for _, t := range sp.Targets {
		if t.Tag != "" && t.Revision != "" {
			protected[t.Revision] = true
		}
	}
	if st, err := traffic.DecodeState(sp.State); err == nil {
		protected[st.Candidate], protected[st.Stable] = true, true
	}
	delete(protected, "")
	return protected
}

// recordPrune records one stage's prune.
func (p *Pipeline) recordPrune(ctx context.Context, pr Pruned, actor string) error {
	e := AuditEvent{Action: ActionPrune, Actor: actor, Stage: pr.Stage, Decision: "unchanged",
		Reason: fmt.Sprintf("kept %d revision(s), nothing to delete", len(pr.Kept))}
	if len(pr.Deleted) > 0 {
		e.Decision = "deleted"
		e.Reason = fmt.Sprintf("deleted %d revision(s) serving no traffic and holding no tag: %s; kept %d", len(pr.Deleted), strings.Join(pr.Deleted, ", "), len(pr.Kept))
	}
	if len(pr.Skipped) > 0 {
		e.Reason += fmt.Sprintf("; %d refused by the service (serving or tagged since selected): %s", len(pr.Skipped), strings.Join(pr.Skipped, ", "))
	}
	return p.record(ctx, e)
}
