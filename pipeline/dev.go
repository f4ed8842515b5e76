package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DevInput is a commit to deploy to dev.
type DevInput struct {
	// SHA is the full commit SHA; the image is tagged with it.
	SHA string
	// Branch is the branch the commit was pushed to ("main" or
	// "refs/heads/main").
	Branch string
	// Actor is who pushed, for the audit trail.
	Actor string
	// Image is the image built from the commit, to push. Nil adopts the
	// image already pushed under the commit's tag (built elsewhere).
	Image v1.Image
}

// DevResult is what Dev deployed.
type DevResult struct {
	// Artifact is the image, by digest.
	Artifact registry.Artifact
	// Pushed reports whether Dev pushed the image (false: it was already
	// there, same digest).
	Pushed bool
	// Revision is the dev revision now serving 100%.
	Revision stage.Revision
}

// Dev pushes the commit's image under the commit SHA (once: an image
// already pushed for the commit is adopted, and a different one refused)
// and deploys it to the dev service as revision "<service>-<sha7>" with all
// traffic. Running Dev again for the same commit adopts the revision it
// created and creates nothing new.
//
// Refusals wrap twostage.ErrPolicy: a branch other than the configured one
// (rule 1), or an image whose digest differs from the one already pushed
// for the commit (build once).
func (p *Pipeline) Dev(ctx context.Context, in DevInput) (DevResult, error) {
	e := AuditEvent{Action: ActionDev, Actor: in.Actor, Ref: in.Branch, SHA: in.SHA, Stage: "dev"}
	if err := p.checkBranch(in.Branch); err != nil {
		return DevResult{}, p.refuse(ctx, e, "%v", err)
	}
	suffix, err := stage.DevSuffix(in.SHA)
	if err != nil {
		return DevResult{}, fmt.Errorf("pipeline: dev deploy: %w", err)
	}
	sha := strings.ToLower(in.SHA)
	ref := p.repository + ":" + sha
	res := DevResult{}
	res.Artifact, err = p.reg.Resolve(ctx, ref)
	switch {
	case err == nil && in.Image != nil:
		d, derr := in.Image.Digest()
		if derr != nil {
			return res, fmt.Errorf("pipeline: computing the digest of the image built from %s: %w", sha, derr)
		}
		if d.String() != res.Artifact.Digest {
			e.Digest = d.String()
			return res, p.refuse(ctx, e, "commit %s already has image %s under %s, and this build is %s: an image is built once per commit and never replaced; deploy the pushed one (pass no image) or make the build reproducible", sha, res.Artifact.Digest, ref, d)
		}
	case errors.Is(err, twostage.ErrNotFound) && in.Image != nil:
		if res.Artifact, err = p.reg.Push(ctx, ref, in.Image); err != nil {
			return res, fmt.Errorf("pipeline: pushing %s: %w", ref, err)
		}
		res.Pushed = true
	case errors.Is(err, twostage.ErrNotFound):
		return res, fmt.Errorf("pipeline: no image for commit %s at %s; build it and pass it as DevInput.Image: %w", sha, ref, err)
	case err != nil:
		return res, fmt.Errorf("pipeline: resolving %s: %w", ref, err)
	}
	e.Digest = res.Artifact.Digest
	// What the audit records: the traffic before, and whether the revision
	// exists already (a retry adopts it: nothing pushed, nothing created).
	before, err := p.dev.Split(ctx)
	switch {
	case errors.Is(err, twostage.ErrNotFound):
	case err != nil:
		return res, fmt.Errorf("pipeline: reading dev traffic: %w", err)
	default:
		e.Before = auditSplit(before)
	}
	existing, err := findRevision(ctx, p.dev, suffix)
	if err != nil {
		return res, fmt.Errorf("pipeline: reading the dev revision of %s: %w", sha, err)
	}
	res.Revision, err = p.dev.Deploy(ctx, stage.Release{
		Artifact:  res.Artifact,
		Revision:  suffix,
		Traffic:   stage.RouteAll,
		Labels:    Labels(sha, in.Branch),
		Overrides: p.devOver,
	})
	if err != nil {
		return res, fmt.Errorf("pipeline: deploying %s to dev: %w", res.Artifact, err)
	}
	e.Revision, e.After, e.Decision = res.Revision.Name, res.Revision.Name+"=100%", "deployed"
	e.Reason = fmt.Sprintf("commit %s on %s serves all dev traffic", sha[:min(7, len(sha))], in.Branch)
	if !res.Pushed && existing.Name == res.Revision.Name && existing.Artifact == res.Artifact {
		e.Decision = "adopted"
		e.Reason = fmt.Sprintf("commit %s on %s: revision %s existed already, nothing was pushed or created; it serves all dev traffic", sha[:min(7, len(sha))], in.Branch, res.Revision.Name)
	}
	return res, p.record(ctx, e)
}
