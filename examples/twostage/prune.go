package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/twostage/twostage/pipeline"
)

// pruneStage is what prune found (and did) in one service.
type pruneStage struct {
	Stage   string   `json:"stage"`
	Service string   `json:"service"`
	Kept    []string `json:"kept"`
	Delete  []string `json:"delete"`
	Deleted []string `json:"deleted,omitempty"`
	Skipped []string `json:"skipped,omitempty"`
}

type pruneResult struct {
	Applied bool         `json:"applied"`
	Keep    int          `json:"keep"`
	Stages  []pruneStage `json:"stages"`
}

func (r pruneResult) Text() string {
	var b strings.Builder
	for _, s := range r.Stages {
		fmt.Fprintf(&b, "%s (%s): keeps %d revision(s)", s.Stage, s.Service, len(s.Kept))
		switch {
		case len(s.Delete) == 0:
			b.WriteString(", nothing to delete\n")
		case r.Applied:
			fmt.Fprintf(&b, ", deleted %d: %s\n", len(s.Deleted), strings.Join(s.Deleted, ", "))
		default:
			fmt.Fprintf(&b, ", would delete %d: %s\n", len(s.Delete), strings.Join(s.Delete, ", "))
		}
		if len(s.Skipped) > 0 {
			fmt.Fprintf(&b, "  kept %d that began to serve or took a tag meanwhile: %s\n", len(s.Skipped), strings.Join(s.Skipped, ", "))
		}
	}
	if !r.Applied {
		b.WriteString("dry run: nothing was deleted; run `twostage prune --apply` to delete\n")
	}
	return b.String()
}

// FailureText: what was found and deleted stays true when a delete fails.
func (r pruneResult) FailureText() string { return r.Text() }

// cmdPrune deletes the revisions of each stage that serve no traffic and
// hold no tag, keeping the newest --keep of them (pipeline.Prune: never
// the stable, prior, candidate or latest revision). Dev is pruned once,
// prod in every region.
func (a *app) cmdPrune(ctx context.Context, args []string) (any, error) {
	fs := a.flags("prune")
	keep := fs.Int("keep", 5, "per stage, the newest revisions kept besides the protected ones (serving, tagged, latest, named by the rollout)")
	apply := fs.Bool("apply", false, "delete (default: a dry run that lists what would be deleted)")
	actor := fs.String("actor", "", "who prunes, for the audit trail (default $GITHUB_ACTOR, else $USER)")
	if err := a.parse(fs, args); err != nil {
		return nil, err
	}
	if *keep < 0 {
		return nil, usagef("--keep %d: want 0 or more", *keep)
	}
	if _, err := a.open(ctx); err != nil {
		return nil, err
	}
	out := pruneResult{Applied: *apply, Keep: *keep}
	for i, r := range a.regions {
		in := pipeline.PruneInput{Keep: *keep, Apply: *apply, Actor: a.actor(*actor)}
		if i > 0 {
			in.Stage = "prod" // dev was pruned with the first region
		}
		res, err := r.pipe.Prune(ctx, in)
		for _, ps := range res.Stages {
			st := pruneStage{Stage: ps.Stage, Service: a.backend.Dev.ResourceName(), Kept: ps.Kept, Delete: ps.Delete, Deleted: ps.Deleted, Skipped: ps.Skipped}
			if ps.Stage == "prod" {
				st.Service = r.prod.ResourceName()
				if r.name != a.cfg.Region {
					st.Stage = "prod/" + r.name
				}
			}
			out.Stages = append(out.Stages, st)
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
