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

// Status is what runs where.
type Status struct {
	Dev, Prod StageStatus
}

// StageStatus is one stage's traffic, rollout and revisions.
type StageStatus struct {
	// Exists is false when the service has not been created yet.
	Exists bool
	// Split is the current traffic.
	Split traffic.Split
	// Rollout is the rollout recorded on the service (zero if none).
	Rollout traffic.RolloutState
	// Revisions are the stage's revisions, newest first, if the stage can
	// list them; at most StatusRevisions.
	Revisions []stage.Revision
	// Drift is how the service's live template differs from the stage's
	// declared overrides (WithDevOverrides, WithProdOverrides), if the
	// stage can tell (stage.Drifter); nil otherwise or when none.
	Drift stage.Drift
}

// StatusRevisions is how many revisions per stage Status lists.
const StatusRevisions = 10

// Status reads both stages.
func (p *Pipeline) Status(ctx context.Context) (Status, error) {
	dev, err := stageStatus(ctx, p.dev, p.devOver)
	if err != nil {
		return Status{}, fmt.Errorf("pipeline: status of dev: %w", err)
	}
	prod, err := stageStatus(ctx, p.prod, p.prodOver)
	if err != nil {
		return Status{}, fmt.Errorf("pipeline: status of prod: %w", err)
	}
	return Status{Dev: dev, Prod: prod}, nil
}

func stageStatus(ctx context.Context, s Service, declared stage.Overrides) (StageStatus, error) {
	var st StageStatus
	sp, err := s.Split(ctx)
	if errors.Is(err, twostage.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	st.Exists, st.Split = true, sp
	if st.Rollout, err = traffic.DecodeState(sp.State); err != nil {
		return st, err
	}
	if d, ok := s.(stage.Drifter); ok {
		if st.Drift, err = d.Drift(ctx, declared); err != nil {
			return st, fmt.Errorf("comparing the live template with the declared overrides: %w", err)
		}
	}
	if l, ok := s.(stage.Lister); ok {
		for rev, err := range l.Revisions(ctx) {
			if err != nil {
				return st, err
			}
			st.Revisions = append(st.Revisions, rev)
			if len(st.Revisions) == StatusRevisions {
				break
			}
		}
	}
	return st, nil
}

// String renders the status for a person: per stage, the split and the
// rollout phase, then the revisions with their digests and tags.
func (s Status) String() string {
	var b strings.Builder
	for _, x := range []struct {
		name string
		st   StageStatus
	}{{"dev", s.Dev}, {"prod", s.Prod}} {
		fmt.Fprintf(&b, "%s:", x.name)
		if !x.st.Exists {
			b.WriteString(" (no service yet)\n")
			continue
		}
		fmt.Fprintf(&b, " %s", x.st.Split)
		if hasLatest(x.st.Split) && x.st.Split.LatestRevision != "" {
			fmt.Fprintf(&b, " (LATEST is %s)", x.st.Split.LatestRevision)
		}
		if r := x.st.Rollout; r.Candidate != "" {
			fmt.Fprintf(&b, "  rollout of %s: %s at step %d/%d", r.Candidate, r.Phase, r.Step, len(r.Percents))
		}
		b.WriteString("\n")
		for _, d := range x.st.Drift {
			fmt.Fprintf(&b, "  drift %s\n", d)
		}
		for _, r := range x.st.Revisions {
			ready := "ready"
			if !r.Ready {
				ready = "NOT READY"
			}
			fmt.Fprintf(&b, "  %-32s %s %s\n", r.Name, shortDigest(r.Artifact.Digest), ready)
		}
	}
	return b.String()
}

// shortDigest abbreviates "sha256:0123…" to "sha256:0123456789ab".
func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

func hasLatest(s traffic.Split) bool {
	if len(s.Targets) == 0 {
		return true
	}
	for _, t := range s.Targets {
		if t.Latest {
			return true
		}
	}
	return false
}
