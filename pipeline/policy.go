package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
)

// refuse records a policy refusal and returns the error wrapping
// twostage.ErrPolicy.
func (p *Pipeline) refuse(ctx context.Context, e AuditEvent, format string, args ...any) error {
	err := fmt.Errorf("pipeline: "+format+": %w", append(args, twostage.ErrPolicy)...)
	e.Action, e.Decision, e.Reason = ActionRefused, "refused", err.Error()
	return joinErrs([]error{err, p.record(ctx, e)})
}

// checkBranch enforces rule 1: only the configured branch deploys dev.
func (p *Pipeline) checkBranch(branch string) error {
	b := strings.TrimPrefix(branch, "refs/heads/")
	if b != p.branch {
		return fmt.Errorf("branch %q may not deploy to dev; only %q does (WithBranch)", branch, p.branch)
	}
	return nil
}

// checkTag enforces rule 2: tag pattern, then signature.
func (p *Pipeline) checkTag(ctx context.Context, tag string) error {
	if !p.tagPattern.MatchString(tag) {
		return fmt.Errorf("tag %q does not match the release pattern %s; release tags look like v1.4.2", tag, p.tagPattern)
	}
	if p.verifier != nil {
		if err := p.verifier.VerifyTag(ctx, tag); err != nil {
			return fmt.Errorf("tag %q is not signed by a trusted key (signed tags are required): %v", tag, err)
		}
	}
	return nil
}

// devDigest returns the digest the dev stage ran for commit sha (rule 3),
// from the newest ready dev revision labelled with the commit.
func (p *Pipeline) devDigest(ctx context.Context, sha string) (string, string, error) {
	sha = strings.ToLower(sha)
	// One read where the stage can fetch a revision: the dev revision of a
	// commit is named after it.
	if g, ok := p.dev.(stage.Getter); ok {
		suffix, err := stage.DevSuffix(sha)
		if err != nil {
			return "", "", err
		}
		rev, err := g.Revision(ctx, suffix)
		switch {
		case err == nil && rev.Labels[stage.LabelCommit] == sha && rev.Ready:
			return rev.Artifact.Digest, rev.Name, nil
		case err != nil && !errors.Is(err, twostage.ErrNotFound):
			return "", "", fmt.Errorf("reading the dev revision of %s: %w", sha, err)
		}
		// Not found under its derived name (renamed, or deployed by other
		// means): look through the list.
	}
	l, ok := p.dev.(stage.Lister)
	if !ok {
		return "", "", fmt.Errorf("the dev service %T cannot list revisions (stage.Lister), so the digest that ran in dev cannot be checked", p.dev)
	}
	for rev, err := range l.Revisions(ctx) {
		if err != nil {
			return "", "", fmt.Errorf("listing dev revisions: %w", err)
		}
		if rev.Labels[stage.LabelCommit] == sha && rev.Ready {
			return rev.Artifact.Digest, rev.Name, nil
		}
	}
	return "", "", nil
}

// findRevision reads the revision called name (full or suffix) of s: one
// read where s is a stage.Getter, else a walk of its revisions
// (stage.Lister). A revision that does not exist, or a stage that can do
// neither, gives the zero Revision and no error; err reports a failed read.
func findRevision(ctx context.Context, s Service, name string) (rev stage.Revision, err error) {
	if g, ok := s.(stage.Getter); ok {
		rev, err = g.Revision(ctx, name)
		if errors.Is(err, twostage.ErrNotFound) {
			return stage.Revision{}, nil
		}
		return rev, err
	}
	l, ok := s.(stage.Lister)
	if !ok {
		return stage.Revision{}, nil
	}
	for r, err := range l.Revisions(ctx) {
		if err != nil {
			return stage.Revision{}, err
		}
		if r.Name == name || strings.HasSuffix(r.Name, "-"+name) {
			return r, nil
		}
	}
	return stage.Revision{}, nil
}

// labelValue turns a git ref into a GCP label value: lower case, characters
// outside [a-z0-9_-] replaced by '-', at most 63 characters.
func labelValue(ref string) string {
	ref = strings.TrimPrefix(strings.TrimPrefix(ref, "refs/heads/"), "refs/tags/")
	b := []byte(strings.ToLower(ref))
	for i, c := range b {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	if len(b) > 63 {
		b = b[:63]
	}
	return string(b)
}

// Labels returns the labels the pipeline puts on a revision built from
// commit sha and deployed for ref (a branch or tag):
// stage.LabelManagedBy "twostage", stage.LabelCommit the lower-case SHA,
// stage.LabelRef the ref as a label value ("v1.4.2" → "v1-4-2").
func Labels(sha, ref string) map[string]string {
	return map[string]string{
		stage.LabelManagedBy: "twostage",
		stage.LabelCommit:    strings.ToLower(sha),
		stage.LabelRef:       labelValue(ref),
	}
}
