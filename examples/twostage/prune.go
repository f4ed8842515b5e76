package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	runapi "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/traffic"
)

// pruneStage is what prune found (and did) in one service.
type pruneStage struct {
	Stage   string   `json:"stage"`
	Service string   `json:"service"`
	Kept    []string `json:"kept"`
	Delete  []string `json:"delete"`
	Deleted []string `json:"deleted,omitempty"`
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
	}
	if !r.Applied {
		b.WriteString("dry run: nothing was deleted; run `twostage prune --apply` to delete\n")
	}
	return b.String()
}

// FailureText: what was found and deleted stays true when a delete fails.
func (r pruneResult) FailureText() string { return r.Text() }

// cmdPrune deletes the revisions of each stage that serve no traffic and
// hold no tag, keeping the newest --keep of them and never the revisions a
// rollout names (stable, prior, candidate: all tagged) nor the latest one.
// Cloud Run keeps at most 1,000 revisions per service.
//
// It is built on stage.Lister and Cloud Run's DeleteRevision directly: the
// library has no prune call yet.
func (a *app) cmdPrune(ctx context.Context, args []string) (any, error) {
	fs := a.flags("prune")
	keep := fs.Int("keep", 5, "per stage, the newest revisions kept besides the protected ones (serving, tagged, latest, named by the rollout)")
	apply := fs.Bool("apply", false, "delete (default: a dry run that lists what would be deleted)")
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
	type svc struct {
		stage string
		s     *cloudrun.Service
	}
	svcs := []svc{{"dev", a.backend.Dev}}
	for _, r := range a.regions {
		name := "prod"
		if r.name != a.cfg.Region {
			name = "prod/" + r.name
		}
		svcs = append(svcs, svc{name, r.prod})
	}
	var client *runapi.RevisionsClient
	if *apply {
		c, err := runapi.NewRevisionsClient(ctx, a.backend.RunOptions...)
		if err != nil {
			return nil, fmt.Errorf("prune: connecting to Cloud Run: %w", err)
		}
		defer c.Close()
		client = c
	}
	for _, s := range svcs {
		ps, err := pruneOne(ctx, s.stage, s.s, *keep)
		if errors.Is(err, twostage.ErrNotFound) {
			continue
		}
		if err != nil {
			return out, err
		}
		if client != nil {
			for _, rev := range ps.Delete {
				op, err := client.DeleteRevision(ctx, &runpb.DeleteRevisionRequest{Name: s.s.ResourceName() + "/revisions/" + rev})
				if err == nil {
					_, err = op.Wait(ctx)
				}
				if err != nil {
					out.Stages = append(out.Stages, ps)
					return out, fmt.Errorf("prune: deleting %s: %w", rev, err)
				}
				ps.Deleted = append(ps.Deleted, rev)
			}
		}
		out.Stages = append(out.Stages, ps)
	}
	return out, nil
}

// pruneOne decides what to delete in one service.
func pruneOne(ctx context.Context, stageName string, s *cloudrun.Service, keep int) (pruneStage, error) {
	out := pruneStage{Stage: stageName, Service: s.ResourceName()}
	sp, err := s.Split(ctx)
	if err != nil {
		return out, err
	}
	protected := map[string]bool{sp.LatestRevision: true}
	for rev, p := range traffic.Shares(sp) {
		if p > 0 {
			protected[rev] = true
		}
	}
	for _, t := range sp.Targets {
		if t.Tag != "" {
			protected[t.Revision] = true
		}
	}
	if st, err := traffic.DecodeState(sp.State); err == nil {
		protected[st.Candidate], protected[st.Stable] = true, true
	}
	var l stage.Lister = s
	kept := 0
	for rev, err := range l.Revisions(ctx) {
		if err != nil {
			return out, err
		}
		switch {
		case protected[rev.Name]:
			out.Kept = append(out.Kept, rev.Name)
		case kept < keep:
			kept++
			out.Kept = append(out.Kept, rev.Name)
		default:
			out.Delete = append(out.Delete, rev.Name)
		}
	}
	return out, nil
}
