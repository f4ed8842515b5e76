package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// ReleaseInput is a release tag to deploy to prod.
type ReleaseInput struct {
	// Tag is the release tag, such as "v1.4.2".
	Tag string
	// SHA is the full SHA of the commit the tag points at.
	SHA string
	// Actor is who tagged, for the audit trail.
	Actor string
}

// ReleaseResult is what Release deployed.
type ReleaseResult struct {
	// Artifact is the image, by digest: the one that ran in dev.
	Artifact registry.Artifact
	// Revision is the new prod revision, serving 0%.
	Revision stage.Revision
	// PreviewURL reaches the new revision directly (its "candidate" tag).
	PreviewURL string
	// Before and After are the prod traffic around the deploy; they route
	// the same shares, After adds the candidate tag. After is computed from
	// Before (see Release), so its Version is empty.
	Before, After traffic.Split
	// Created reports that this first release created the prod service and
	// serves 100% (WithCreateProd); Before is then empty.
	Created bool
}

// Release deploys the image of a tagged commit to prod as revision
// "<service>-<tag>-<sha7>" with no traffic and the tag "candidate", whose
// URL previews it. It waits (with backoff, up to WithAwaitTimeout) for the
// commit's image to appear in the registry, and never rebuilds or re-tags
// it: the prod revision runs the digest dev ran.
//
// Refusals wrap twostage.ErrPolicy: a tag that does not match the release
// pattern or is not signed when signatures are required (rule 2), a commit
// that never ran in dev, or a digest that differs from the one dev ran, with
// both digests in the message (rule 3). A release while another rollout is
// under way fails with twostage.ErrConflict. Release never changes who
// serves prod traffic.
func (p *Pipeline) Release(ctx context.Context, in ReleaseInput) (ReleaseResult, error) {
	e := AuditEvent{Action: ActionRelease, Actor: in.Actor, Ref: in.Tag, SHA: in.SHA, Stage: "prod"}
	var res ReleaseResult
	if err := p.checkTag(ctx, in.Tag); err != nil {
		return res, p.refuse(ctx, e, "%v", err)
	}
	suffix, err := stage.ReleaseSuffix(in.Tag, in.SHA)
	if err != nil {
		return res, fmt.Errorf("pipeline: release %s: %w", in.Tag, err)
	}
	sha := strings.ToLower(in.SHA)

	res.Before, err = p.prod.Split(ctx)
	switch {
	case errors.Is(err, twostage.ErrNotFound) && p.createProd:
		res.Created = true
	case errors.Is(err, twostage.ErrNotFound):
		return res, fmt.Errorf("pipeline: release %s: the prod service does not exist; a release deploys with no traffic, so create the service first (for example with a placeholder image, or let the first release create it: WithCreateProd) and release again: %w", in.Tag, err)
	case err != nil:
		return res, fmt.Errorf("pipeline: release %s: reading prod traffic: %w", in.Tag, err)
	}
	if !res.Created {
		e.Before = auditSplit(res.Before)
		st, err := traffic.DecodeState(res.Before.State)
		switch {
		case err != nil:
			return res, fmt.Errorf("pipeline: release %s: %w", in.Tag, err)
		case st.Candidate != "" && !st.Phase.Done():
			return res, fmt.Errorf("pipeline: release %s: the rollout of %s is %s; promote or roll it back before releasing another revision: %w", in.Tag, st.Candidate, st.Phase, twostage.ErrConflict)
		case (st.Phase == traffic.RolledBack || st.Phase == traffic.Aborted) && p.isRevision(st.Candidate, suffix):
			// Promote would refuse it forever (traffic.Rollout.Run): refuse
			// the release the same way, so that a retry cannot look green.
			e.Revision = st.Candidate
			return res, p.refuse(ctx, e, "release %s: rollout of %s ended %s (%s); it is not restarted, release a new revision", in.Tag, st.Candidate, st.Phase, st.Reason)
		}
	}

	ref := p.repository + ":" + sha
	awaitOpts := []registry.AwaitOption{registry.WithClock(p.clock), registry.WithTimeout(p.awaitFor), registry.WithLogger(p.log)}
	if p.awaitProg != nil {
		awaitOpts = append(awaitOpts, registry.WithProgress(p.awaitProg))
	}
	res.Artifact, err = registry.Await(ctx, p.reg, ref, awaitOpts...)
	if err != nil {
		return res, fmt.Errorf("pipeline: release %s: waiting for the image of commit %s: %w", in.Tag, sha, err)
	}
	e.Digest = res.Artifact.Digest

	devDigest, devRev, err := p.devDigest(ctx, sha)
	switch {
	case err != nil:
		// Reading dev failed (a blip, a cancellation, a stage that cannot
		// tell): not a refusal; the cause keeps its code.
		return res, fmt.Errorf("pipeline: release %s: checking the digest dev ran: %w", in.Tag, err)
	case devDigest == "":
		return res, p.refuse(ctx, e, "release %s: commit %s never ran in dev (no ready dev revision is labelled with it); deploy it to dev first", in.Tag, sha)
	case devDigest != res.Artifact.Digest:
		return res, p.refuse(ctx, e, "release %s: %s resolves to %s, but dev revision %s ran %s for commit %s; the image was rebuilt or re-tagged, and prod only runs what ran in dev", in.Tag, ref, res.Artifact.Digest, devRev, devDigest, sha)
	}

	if res.Created {
		return res, p.createProdRelease(ctx, &res, suffix, sha, in, e)
	}
	var tags []string
	if traffic.TagFits(serviceName(p.prod), traffic.TagCandidate) {
		tags = []string{traffic.TagCandidate}
	}
	res.Revision, err = p.prod.Deploy(ctx, stage.Release{
		Artifact:  res.Artifact,
		Revision:  suffix,
		Traffic:   stage.RouteNone,
		Tags:      tags,
		Labels:    Labels(sha, in.Tag),
		Overrides: p.prodOver,
		// Conditional on the split read above: a release or a rollout
		// step that landed since makes this one lose (ErrConflict) rather
		// than both report success with one tag.
		Version: res.Before.Version,
	})
	if errors.Is(err, twostage.ErrConflict) {
		return res, fmt.Errorf("pipeline: release %s lost a race: %s; nothing was deployed, release again once it is settled: %w", in.Tag, p.winner(ctx), err)
	}
	if err != nil {
		return res, fmt.Errorf("pipeline: deploying %s to prod with no traffic: %w", res.Artifact, err)
	}
	res.PreviewURL = res.Revision.TagURLs[traffic.TagCandidate]
	// The traffic after a no-traffic deploy follows from the contract of
	// stage.Stage (the serving shares are kept, LATEST is pinned, the tags
	// are added), so it is computed rather than read: a release costs one
	// read of prod, not two.
	if res.After, err = afterNoTraffic(res.Before, res.Revision.Name, tags); err != nil {
		return res, fmt.Errorf("pipeline: release %s: %w", in.Tag, err)
	}
	e.Revision, e.After = res.Revision.Name, auditSplit(res.After)
	if err := p.verify(ctx, &res, &e); err != nil {
		return res, joinErrs([]error{err, p.record(ctx, e)})
	}
	e.Decision = "deployed"
	e.Reason = fmt.Sprintf("%s runs %s with 0%% traffic; preview at %s", res.Revision.Name, res.Artifact.Digest, res.PreviewURL)
	if tags == nil {
		e.Reason = fmt.Sprintf("%s runs %s with 0%% traffic; no preview URL: service name %q leaves no room for the tag %q (Cloud Run allows %d characters for both)", res.Revision.Name, res.Artifact.Digest, serviceName(p.prod), traffic.TagCandidate, traffic.MaxTagServiceLen)
	}
	return res, p.record(ctx, e)
}

// createProdRelease deploys the first release to a prod service that does
// not exist yet, creating it with the release at 100% (WithCreateProd).
func (p *Pipeline) createProdRelease(ctx context.Context, res *ReleaseResult, suffix, sha string, in ReleaseInput, e AuditEvent) error {
	var tags []string
	if traffic.TagFits(serviceName(p.prod), traffic.TagStable) {
		tags = []string{traffic.TagStable}
	}
	var err error
	res.Revision, err = p.prod.Deploy(ctx, stage.Release{
		Artifact:  res.Artifact,
		Revision:  suffix,
		Traffic:   stage.RouteAll,
		Tags:      tags,
		Labels:    Labels(sha, in.Tag),
		Overrides: p.prodOver,
	})
	if err != nil {
		return fmt.Errorf("pipeline: release %s: creating the prod service with %s: %w", in.Tag, res.Artifact, err)
	}
	res.After = traffic.Split{Targets: []traffic.Target{{Latest: true, Percent: 100}}, LatestRevision: res.Revision.Name}
	for _, tag := range tags {
		if res.After, err = traffic.SetTag(res.After, tag, res.Revision.Name); err != nil {
			return fmt.Errorf("pipeline: release %s: %w", in.Tag, err)
		}
	}
	e.Revision, e.After, e.Decision = res.Revision.Name, auditSplit(res.After), "deployed"
	e.Reason = fmt.Sprintf("first release: the prod service did not exist, so %s serves 100%% at once (no stable revision to protect)", res.Revision.Name)
	return p.record(ctx, e)
}

// afterNoTraffic returns the split a RouteNone deploy of revision with tags
// leaves, from the split before: LATEST pinned to the revision that served,
// the tags moved to the new revision. Version is left empty: it is not
// known without a read.
func afterNoTraffic(before traffic.Split, revision string, tags []string) (traffic.Split, error) {
	after, err := traffic.Pin(before, before.LatestRevision)
	for _, tag := range tags {
		if err == nil {
			after, err = traffic.SetTag(after, tag, revision)
		}
	}
	if err != nil {
		return traffic.Split{}, err
	}
	after.Version, after.LatestRevision = "", revision
	return after, nil
}

// isRevision reports whether revision is the prod revision of suffix: its
// derived name when prod tells its name (stage.Namer), else a name ending in
// "-"+suffix.
func (p *Pipeline) isRevision(revision, suffix string) bool {
	if revision == "" {
		return false
	}
	if svc := serviceName(p.prod); svc != "" {
		name, err := stage.RevisionName(svc, suffix)
		return err == nil && name == revision
	}
	return strings.HasSuffix(revision, "-"+suffix)
}

// winner describes what changed prod since a release read it, for the
// error of the release that lost: the rollout under way, or the revision
// the candidate tag now names (with the ref it was released for, when the
// prod service can read one revision).
func (p *Pipeline) winner(ctx context.Context) string {
	sp, err := p.prod.Split(ctx)
	if err != nil {
		return fmt.Sprintf("prod changed since it was read (reading it again failed: %v)", err)
	}
	if st, err := traffic.DecodeState(sp.State); err == nil && st.Candidate != "" && !st.Phase.Done() {
		return fmt.Sprintf("the rollout of %s started meanwhile (%s at step %d)", st.Candidate, st.Phase, st.Step)
	}
	rev, ok := traffic.TagOf(sp, traffic.TagCandidate)
	if !ok {
		return "prod changed since it was read"
	}
	if g, ok := p.prod.(stage.Getter); ok {
		if r, err := g.Revision(ctx, rev); err == nil && r.Labels[stage.LabelRef] != "" {
			return fmt.Sprintf("release %s won: revision %s holds the %q tag", r.Labels[stage.LabelRef], rev, traffic.TagCandidate)
		}
	}
	return fmt.Sprintf("revision %s won: it holds the %q tag", rev, traffic.TagCandidate)
}

// serviceName returns the service's name if it tells (stage.Namer), else "".
func serviceName(s Service) string {
	if n, ok := s.(stage.Namer); ok {
		return n.Name()
	}
	return ""
}

// verify runs the pre-traffic verifiers against the candidate. On a failure
// it records the release as aborted in the prod split (one write, traffic
// unchanged), so Promote refuses the candidate, and returns an error
// wrapping twostage.ErrNotReady; e carries the verdicts.
func (p *Pipeline) verify(ctx context.Context, res *ReleaseResult, e *AuditEvent) error {
	c := Candidate{Revision: res.Revision, URL: res.PreviewURL}
	var failed *traffic.Verdict
	for _, v := range p.verifiers {
		verdict, err := v.Verify(ctx, c)
		if err != nil {
			verdict = traffic.Verdict{Gate: verdict.Gate, Outcome: traffic.Fail, Reason: err.Error()}
		}
		if verdict.Gate == "" {
			verdict.Gate = fmt.Sprintf("verifier%d", len(e.Verdicts)+1)
		}
		e.Verdicts = append(e.Verdicts, verdict)
		if verdict.Outcome != traffic.Pass && failed == nil {
			failed = &e.Verdicts[len(e.Verdicts)-1]
		}
	}
	if failed == nil {
		return nil
	}
	reason := fmt.Sprintf("pre-traffic check %s: %s", failed.Gate, failed.Reason)
	e.Decision, e.Reason = "refused", reason
	st := traffic.RolloutState{Candidate: res.Revision.Name, Phase: traffic.Aborted, Reason: reason}
	mark, err := p.prod.Split(ctx)
	if err == nil {
		for rev, pct := range traffic.Serving(mark) {
			if pct == 100 {
				st.Stable = rev
			}
		}
		mark.State = st.Encode()
		mark, err = p.prod.SetSplit(ctx, mark)
	}
	if err != nil {
		return fmt.Errorf("pipeline: release %s failed its pre-traffic check (%s), and recording that failed too, so Promote may still pick it up: %w", res.Revision.Name, reason, err)
	}
	res.After = mark
	return fmt.Errorf("pipeline: release %s stopped before any traffic: %s: %w", res.Revision.Name, reason, twostage.ErrNotReady)
}
