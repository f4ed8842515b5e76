package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// repoDir is the git repository twostage works on: the work tree that
// holds the configuration file, or, when the file lives outside any (a
// --config kept elsewhere), the current directory.
func (a *app) repoDir() string {
	dir := filepath.Dir(a.cfgPath)
	cmd := exec.Command("git", "rev-parse", "--is-inside-work-tree")
	cmd.Dir = dir
	if out, err := cmd.Output(); err == nil && strings.TrimSpace(string(out)) == "true" {
		return dir
	}
	return "."
}

// git runs git in the repository (see repoDir) and returns its output.
func (a *app) git(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = a.repoDir()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// localRules are the dev rules that hold outside CI, where the branch and
// commit come from git: --branch and --sha must name what is checked out
// (unless --force; a detached HEAD names no branch), and an image built
// from a working tree with uncommitted changes is not the commit it would
// be pushed as (unless --allow-dirty). In GitHub Actions (GITHUB_REF) and
// other CI systems (CI=true) the system names both and the checkout is the
// commit. Outside a git repository nothing is checked.
func (a *app) localRules(ctx context.Context, branch, sha, imageDir string, building, allowDirty, force bool) error {
	if a.gh.Ref != "" || a.env("CI") == "true" {
		// A CI system names the branch and commit, and its checkout is
		// the commit.
		return nil
	}
	head, err := a.git(ctx, "rev-parse", "--abbrev-ref", "HEAD")
	if err != nil {
		return nil
	}
	if !force {
		if branch != "" && head != "HEAD" && strings.TrimPrefix(branch, "refs/heads/") != head {
			return fmt.Errorf("--branch %s, but git says the checkout is on %s: dev deploys what is checked out; switch to %s, or pass --force to deploy it as %s anyway: %w", branch, head, branch, branch, twostage.ErrPolicy)
		}
		if full, err := a.git(ctx, "rev-parse", "HEAD"); err == nil && sha != "" && building && !strings.HasPrefix(full, strings.ToLower(sha)) {
			return fmt.Errorf("--sha %s, but the checkout is at %s: the image would be built from another commit than the one it is pushed as; check out %s, or pass --force: %w", sha, full, sha, twostage.ErrPolicy)
		}
	}
	if building && imageDir != "" {
		// An image directory outside the repository is not built from the
		// commit either way; only one inside it can be checked.
		top, _ := a.git(ctx, "rev-parse", "--show-toplevel")
		cmd := exec.CommandContext(ctx, "git", "rev-parse", "--show-toplevel")
		cmd.Dir = imageDir
		if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) != top {
			return nil
		}
	}
	if building && !allowDirty {
		args := []string{"status", "--porcelain", "--untracked-files=no", "--", "."}
		if l := a.cfg.Audit.Log; l != "" {
			// The audit log is the CLI's own writing, not the app's.
			args = append(args, ":(exclude)"+l)
		}
		out, _ := a.git(ctx, args...)
		if imageDir != "" {
			if in, err := a.git(ctx, "status", "--porcelain", "--", imageDir); err == nil && in != "" {
				out = strings.TrimSpace(out + "\n" + in)
			}
		}
		if out != "" {
			first, _, _ := strings.Cut(out, "\n")
			return fmt.Errorf("the working tree has uncommitted changes (%s): the image would not be the commit it is pushed as; commit them, or pass --allow-dirty: %w", strings.TrimSpace(first), twostage.ErrPolicy)
		}
	}
	return nil
}

// devResult is what `dev` did.
type devResult struct {
	Commit   string `json:"commit"`
	Branch   string `json:"branch"`
	Image    string `json:"image"`
	Digest   string `json:"digest"`
	Pushed   bool   `json:"pushed"`
	Revision string `json:"revision"`
	URL      string `json:"url"`
}

func (r devResult) Text() string {
	verb := "adopted"
	if r.Pushed {
		verb = "pushed"
	}
	return fmt.Sprintf("dev: commit %s on %s\n  image    %s (%s)\n  revision %s serves 100%%\n  url      %s\n", r.Commit, r.Branch, r.Image, verb, r.Revision, r.URL)
}

func (a *app) cmdDev(ctx context.Context, args []string) (any, error) {
	fs := a.flags("dev")
	a.virtualFlag(fs)
	sha := fs.String("sha", "", "the commit (default $GITHUB_SHA, else git rev-parse HEAD)")
	branch := fs.String("branch", "", "the branch pushed to (default from $GITHUB_REF, else the checked-out branch)")
	actor := fs.String("actor", "", "who deploys (default $GITHUB_ACTOR, else $USER)")
	dir := fs.String("image-dir", "", "build the image from this directory, reproducibly, without Docker (lands in /app)")
	tar := fs.String("image-tar", "", "the image as a `docker save` / `ko build --tarball` file")
	entry := fs.String("entrypoint", "", "with --image-dir: the entrypoint, comma-separated (for example /app/server)")
	allowDirty := fs.Bool("allow-dirty", false, "outside CI: build even though the working tree has uncommitted changes (the image is then not the commit it is pushed as)")
	force := fs.Bool("force", false, "outside CI: deploy as --branch/--sha even though git says the checkout is another branch or commit")
	if err := a.parse(fs, args); err != nil {
		return nil, err
	}
	if *dir != "" && *tar != "" {
		return nil, usagef("--image-dir and --image-tar are exclusive; pass one (or neither, to deploy the image already pushed for the commit)")
	}
	if *entry != "" && *dir == "" {
		return nil, usagef("--entrypoint goes with --image-dir")
	}
	p, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.localRules(ctx, *branch, *sha, *dir, *dir != "" || *tar != "", *allowDirty, *force); err != nil {
		return nil, err
	}
	if *sha == "" {
		*sha = a.gh.SHA
	}
	if *sha == "" {
		if *sha, err = a.git(ctx, "rev-parse", "HEAD"); err != nil {
			return nil, usagef("no commit: pass --sha (reading HEAD: %v)", err)
		}
	}
	if *branch == "" {
		*branch = a.gh.Branch()
		if a.gh.Ref == "" {
			if *branch, err = a.git(ctx, "rev-parse", "--abbrev-ref", "HEAD"); err != nil {
				return nil, usagef("no branch: pass --branch (reading HEAD: %v)", err)
			}
		}
	}
	var img v1.Image
	endBuild := a.group("build image")
	switch {
	case *dir != "":
		// The files land in /app, also the working directory: the emulator's
		// data plane serves an image without entrypoint from there.
		spec := registry.BuildSpec{Dir: *dir, WorkingDir: "/app", Labels: map[string]string{"org.opencontainers.image.revision": strings.ToLower(*sha)}}
		if *entry != "" {
			spec.Entrypoint = strings.Split(*entry, ",")
		}
		img, err = registry.Build(ctx, nil, spec)
	case *tar != "":
		img, err = registry.FromTarball(*tar, "")
	}
	endBuild()
	if err != nil {
		return nil, fmt.Errorf("building the image: %w", err)
	}
	defer a.group("deploy to dev")()
	res, err := p.Dev(ctx, pipeline.DevInput{SHA: *sha, Branch: *branch, Actor: a.actor(*actor), Image: img})
	out := devResult{Commit: strings.ToLower(*sha), Branch: *branch, Image: res.Artifact.String(), Digest: res.Artifact.Digest, Pushed: res.Pushed, Revision: res.Revision.Name, URL: res.Revision.URL}
	if err == nil {
		a.output("revision", out.Revision)
		a.output("digest", out.Digest)
		a.output("image", out.Image)
		a.output("url", out.URL)
	}
	return out, err
}

// releaseResult is what `release` did.
type releaseResult struct {
	// Region is the prod region.
	Region     string `json:"region"`
	Tag        string `json:"tag"`
	Commit     string `json:"commit"`
	Image      string `json:"image"`
	Digest     string `json:"digest"`
	Revision   string `json:"revision"`
	PreviewURL string `json:"previewUrl,omitempty"`
	URL        string `json:"url,omitempty"`
	Before     string `json:"before,omitempty"`
	After      string `json:"after,omitempty"`
	// First is true when the release created the prod service.
	First bool `json:"first,omitempty"`
	// Regions are the extra prod regions' results.
	Regions []releaseResult `json:"regions,omitempty"`
}

func (r releaseResult) Text() string {
	var s string
	if r.First {
		s = fmt.Sprintf("release %s (commit %s) in %s: created prod with %s serving 100%%\n  image %s\n  url   %s\n", r.Tag, r.Commit, r.Region, r.Revision, r.Image, r.URL)
	} else {
		s = fmt.Sprintf("release %s (commit %s) in %s: %s deployed with 0%% traffic\n  image   %s\n  preview %s\n  traffic %s\n", r.Tag, r.Commit, r.Region, r.Revision, r.Image, r.PreviewURL, r.After)
	}
	for _, x := range r.Regions {
		s += x.Text()
	}
	if r.Region != "" && !r.First {
		s += "next: twostage promote\n"
	}
	return s
}

func (a *app) cmdRelease(ctx context.Context, args []string) (any, error) {
	fs := a.flags("release")
	a.virtualFlag(fs)
	tag := fs.String("tag", "", "the release tag (default from $GITHUB_REF)")
	sha := fs.String("sha", "", "the tagged commit (default: what the tag points at in git, else $GITHUB_SHA)")
	actor := fs.String("actor", "", "who releases (default $GITHUB_ACTOR, else $USER)")
	if err := a.parse(fs, args); err != nil {
		return nil, err
	}
	if *tag == "" {
		*tag = a.gh.Tag()
	}
	if *tag == "" {
		return nil, usagef("no tag: pass --tag v1.4.2 (or run on a tag push)")
	}
	if _, err := a.open(ctx); err != nil {
		return nil, err
	}
	if *sha == "" {
		if c, err := a.verifier().Commit(ctx, *tag); err == nil {
			*sha = c
		} else if *sha = a.gh.SHA; *sha == "" {
			return nil, usagef("no commit for tag %s: pass --sha (git: %v)", *tag, err)
		}
	}
	if err := a.couldRunInDev(ctx, *tag, *sha); err != nil {
		return nil, err
	}
	in := pipeline.ReleaseInput{Tag: *tag, SHA: *sha, Actor: a.actor(*actor)}
	var out releaseResult
	for i, r := range a.regions {
		res, err := a.releaseIn(ctx, r, in)
		if i == 0 {
			out = res
		} else {
			out.Regions = append(out.Regions, res)
		}
		if err != nil {
			return out, err
		}
	}
	a.output("revision", out.Revision)
	a.output("digest", out.Digest)
	a.output("image", out.Image)
	if out.First {
		a.output("url", out.URL)
	} else {
		a.output("preview_url", out.PreviewURL)
	}
	return out, nil
}

// releaseIn releases in one region.
func (a *app) releaseIn(ctx context.Context, r region, in pipeline.ReleaseInput) (releaseResult, error) {
	defer a.group(fmt.Sprintf("release %s in %s", in.Tag, r.name))()
	sha7 := strings.ToLower(in.SHA)[:min(7, len(in.SHA))]
	a.progress.Expect(fmt.Sprintf("commit %s to run in dev (image %s:%s)", sha7, a.backend.Repository, strings.ToLower(in.SHA)), a.clock.Now().Add(a.cfg.Release.AwaitTimeout.D()))
	// The pipeline is built WithCreateProd: the first release creates the
	// prod service at 100% under the same rules.
	res, err := r.pipe.Release(ctx, in)
	if err != nil && res.Artifact.Digest == "" && errors.Is(err, twostage.ErrNotFound) && ctx.Err() == nil {
		// The wait is over and the commit never ran in dev: a refusal with
		// the next step, not a failure to retry.
		err = fmt.Errorf("%w; commit %s did not run in dev within release.await-timeout %s: check its dev workflow run (re-run it if it was cancelled or replaced), then release %s again: %w", err, sha7, a.cfg.Release.AwaitTimeout.D(), in.Tag, twostage.ErrPolicy)
	}
	out := releaseResult{Region: r.name, Tag: in.Tag, Commit: strings.ToLower(in.SHA), Image: res.Artifact.String(), Digest: res.Artifact.Digest, Revision: res.Revision.Name, PreviewURL: res.PreviewURL, First: res.Created}
	if res.Created {
		out.URL = res.Revision.URL
	}
	if res.Before.Targets != nil || res.After.Targets != nil {
		out.Before, out.After = res.Before.String(), res.After.String()
	}
	return out, err
}

// couldRunInDev refuses at once a release whose commit cannot have run in
// dev, instead of waiting release.await-timeout for an image that will
// never come: a commit git says is not on the dev branch, or one dev has
// moved past (it runs a later commit) without ever pushing its image. When
// git or the services cannot tell, it says nothing and the release waits.
func (a *app) couldRunInDev(ctx context.Context, tag, sha string) error {
	sha = strings.ToLower(sha)
	sha7 := sha[:min(7, len(sha))]
	branch := a.cfg.Branch
	for _, ref := range []string{"refs/remotes/origin/" + branch, "refs/heads/" + branch} {
		if _, err := a.git(ctx, "rev-parse", "--verify", "--quiet", ref); err != nil {
			continue
		}
		_, err := a.git(ctx, "merge-base", "--is-ancestor", sha, ref)
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			return fmt.Errorf("release %s: commit %s is not on %s (%s), and only %s deploys to dev, so it never ran there; tag a commit of %s: %w", tag, sha7, branch, ref, branch, branch, twostage.ErrPolicy)
		}
		break
	}
	if _, err := a.backend.Registry.Resolve(ctx, a.backend.Repository+":"+sha); err == nil || !errors.Is(err, twostage.ErrNotFound) {
		return nil
	}
	for rev, err := range a.backend.Dev.Revisions(ctx) {
		if err != nil {
			return nil
		}
		newest := rev.Labels[stage.LabelCommit]
		if newest == "" || newest == sha {
			return nil
		}
		if _, err := a.git(ctx, "merge-base", "--is-ancestor", sha, newest); err == nil {
			return fmt.Errorf("release %s: dev has moved past commit %s (it runs %s, a later commit) and no image was ever pushed for %s, so it will never run in dev; re-run the dev workflow run of %s (a newer push replaces a waiting one), or tag the commit dev runs: %w", tag, sha7, newest[:min(7, len(newest))], sha7, sha7, twostage.ErrPolicy)
		}
		return nil
	}
	return nil
}

// record sends an event the CLI itself produced to the same sinks as the
// pipeline's.
func (a *app) record(ctx context.Context, e pipeline.AuditEvent) error {
	if e.Time.IsZero() {
		e.Time = a.clock.Now()
	}
	sinks := multiSink{&a.events, a.progress}
	if a.audit != nil {
		sinks = append(sinks, a.audit)
	}
	return sinks.Record(ctx, e)
}

// rolloutResult is where a rollout stands after promote or rollback.
type rolloutResult struct {
	Region    string        `json:"region,omitempty"`
	Candidate string        `json:"candidate,omitempty"`
	Stable    string        `json:"stable,omitempty"`
	Phase     traffic.Phase `json:"phase,omitempty"`
	Step      int           `json:"step,omitempty"`
	Percent   int           `json:"percent,omitempty"`
	Reason    string        `json:"reason,omitempty"`
	Split     string        `json:"split,omitempty"`
	// Nothing is set when there was nothing to do.
	Nothing bool `json:"nothing,omitempty"`
	// Waiting is a released candidate no rollout has taken up yet.
	Waiting string `json:"waiting,omitempty"`
	// Manual is "next" or "full" for a promotion by hand.
	Manual string `json:"manual,omitempty"`
	// Regions are the extra prod regions' results.
	Regions []rolloutResult `json:"regions,omitempty"`
}

func (r rolloutResult) Text() string {
	s := r.text()
	for _, x := range r.Regions {
		s += x.text()
	}
	return s
}

// FailureText is what stays true when promote or rollback fails: where
// the rollout ended, if it got anywhere.
func (r rolloutResult) FailureText() string {
	if r.Candidate == "" || r.Phase == "" {
		return ""
	}
	return r.Text()
}

func (r rolloutResult) text() string {
	where := ""
	if r.Region != "" {
		where = " in " + r.Region
	}
	if r.Nothing && !r.Phase.Done() && r.Phase != "" {
		return fmt.Sprintf("nothing to start%s: the rollout of %s is %s at step %d, %s\n", where, r.Candidate, r.Phase, r.Step, r.Reason)
	}
	if r.Nothing && r.Phase != "" {
		return fmt.Sprintf("nothing to roll back%s: the rollout of %s already ended %s and %s serves 100%% (%s)\n", where, r.Candidate, r.Phase, r.Stable, r.Reason)
	}
	if r.Nothing && r.Waiting != "" {
		return fmt.Sprintf("nothing to resume%s: %s waits for a person to start its rollout\n", where, r.Waiting)
	}
	if r.Nothing {
		return fmt.Sprintf("nothing to promote%s: no release is waiting and no rollout is under way\n", where)
	}
	s := fmt.Sprintf("rollout of %s%s: %s", r.Candidate, where, r.Phase)
	if r.Step > 0 {
		s += fmt.Sprintf(" at step %d (%d%%)", r.Step, r.Percent)
	}
	switch {
	case r.Manual == "full" && r.Phase == traffic.Succeeded:
		s += ": promoted by hand to 100%, gates skipped"
	case r.Manual == "next":
		s += " (moved by hand, gates skipped)"
		if r.Reason != "" {
			s += ": " + r.Reason
		}
	case r.Reason != "":
		s += ": " + r.Reason
	}
	return s + "\n  traffic " + r.Split + "\n"
}

func newRolloutResult(region string, r traffic.Result) rolloutResult {
	out := rolloutResult{Region: region, Candidate: r.State.Candidate, Stable: r.State.Stable, Phase: r.State.Phase, Step: r.State.Step, Reason: r.State.Reason}
	if r.State.Step > 0 && r.State.Step <= len(r.State.Percents) {
		out.Percent = r.State.Percents[r.State.Step-1]
	}
	if r.Split.Targets != nil || r.Split.Version != "" {
		out.Split = r.Split.String()
	}
	return out
}

// gather puts per-region results into the primary's.
func gather(rs []rolloutResult) rolloutResult {
	if len(rs) == 0 {
		return rolloutResult{}
	}
	out := rs[0]
	out.Regions = append([]rolloutResult(nil), rs[1:]...)
	return out
}

// promoted gathers the regions' results and sets the step outputs.
func (a *app) promoted(results []rolloutResult) rolloutResult {
	out := gather(results)
	if out.Candidate != "" {
		a.output("revision", out.Candidate)
		a.output("phase", string(out.Phase))
	}
	return out
}

// undo rolls back regions, recording each outcome in results.
func (a *app) undo(ctx context.Context, regions []region, reason, actor string, results []rolloutResult) error {
	var errs []error
	for i, r := range regions {
		res, err := r.pipe.Rollback(ctx, pipeline.RollbackInput{Reason: reason, Actor: actor})
		results[i] = newRolloutResult(r.name, res)
		if err != nil {
			errs = append(errs, fmt.Errorf("rolling back %s: %w", r.name, err))
		}
	}
	return errors.Join(errs...)
}

func (a *app) cmdRollback(ctx context.Context, args []string) (any, error) {
	fs := a.flags("rollback")
	reason := fs.String("reason", "", "why, for the audit trail")
	actor := fs.String("actor", "", "who rolls back (default $GITHUB_ACTOR, else $USER)")
	if err := a.parse(fs, args); err != nil {
		return nil, err
	}
	if _, err := a.open(ctx); err != nil {
		return nil, err
	}
	if *reason == "" {
		*reason = "rolled back by " + a.actor(*actor)
	}
	var results []rolloutResult
	var errs []error
	for _, r := range a.regions {
		// After an automatic rollback or an abort, the stable revision
		// already serves everything: say so instead of writing the same
		// traffic again (which would only overwrite the recorded reason).
		if sp, err := r.prod.Split(ctx); err == nil {
			if st, err := traffic.DecodeState(sp.State); err == nil && (st.Phase == traffic.RolledBack || st.Phase == traffic.Aborted) && traffic.Shares(sp)[st.Stable] == 100 {
				out := newRolloutResult(r.name, traffic.Result{State: st, Split: sp})
				out.Nothing = true
				results = append(results, out)
				continue
			}
		}
		end := a.group("rollback in " + r.name)
		res, err := r.pipe.Rollback(ctx, pipeline.RollbackInput{Reason: *reason, Actor: a.actor(*actor)})
		end()
		results = append(results, newRolloutResult(r.name, res))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.name, err))
		}
	}
	return gather(results), errors.Join(errs...)
}

// planResult is the dry run.
type planResult struct {
	Region string `json:"region"`
	Action string `json:"action"`
	Before string `json:"before"`
	After  string `json:"after,omitempty"`
	Diff   string `json:"diff"`
	State  string `json:"state,omitempty"`
	// Nothing explains why no write would happen.
	Nothing string `json:"nothing,omitempty"`
	// Settings are the prod settings a release applies.
	Settings string `json:"settings,omitempty"`
	// Regions are the extra prod regions' plans.
	Regions []planResult `json:"regions,omitempty"`
}

func (r planResult) Text() string {
	var s string
	if r.Nothing != "" {
		s = fmt.Sprintf("%s in %s would write nothing: %s\n", r.Action, r.Region, r.Nothing)
	} else {
		s = fmt.Sprintf("%s in %s would write (dry run, nothing changed):\n%s\n  rollout state after: %s\n", r.Action, r.Region, indent(r.Diff), r.State)
	}
	if r.Settings != "" {
		s += "  prod settings (applied at each release): " + r.Settings + "\n"
	}
	for _, x := range r.Regions {
		s += x.Text()
	}
	return s
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

// errDryRun stops a dry run at its first write.
var errDryRun = errors.New("dry run")

// dryRun is the prod service with writes captured instead of made.
type dryRun struct {
	pipeline.Service
	name    string
	written *traffic.Split
}

func (d *dryRun) Name() string { return d.name }

func (d *dryRun) SetSplit(_ context.Context, s traffic.Split) (traffic.Split, error) {
	c := s.Clone()
	d.written = &c
	return traffic.Split{}, errDryRun
}

func (d *dryRun) Deploy(context.Context, stage.Release) (stage.Revision, error) {
	return stage.Revision{}, errDryRun
}

func (a *app) cmdPlan(ctx context.Context, args []string) (any, error) {
	fs := a.flags("plan")
	revision := fs.String("revision", "", "the revision promote would roll out (default the candidate)")
	rollback := fs.Bool("rollback", false, "show what rollback would write instead")
	if err := a.parse(fs, args); err != nil {
		return nil, err
	}
	if _, err := a.open(ctx); err != nil {
		return nil, err
	}
	var out planResult
	for i, r := range a.regions {
		res, err := a.planIn(ctx, r, *revision, *rollback)
		if i == 0 {
			out = res
		} else {
			out.Regions = append(out.Regions, res)
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", r.name, err)
		}
	}
	return out, nil
}

// planIn computes the next write in one region by running the pipeline
// against the service with its writes captured: the first write is the
// answer, and nothing is changed.
func (a *app) planIn(ctx context.Context, r region, revision string, rollback bool) (planResult, error) {
	out := planResult{Region: r.name, Action: "promote", Settings: settingsText(a.cfg.Settings.Prod)}
	before, err := r.prod.Split(ctx)
	if err != nil {
		return out, fmt.Errorf("reading prod traffic: %w", err)
	}
	out.Before = before.String()
	st, err := traffic.DecodeState(before.State)
	if err != nil {
		return out, err
	}
	dry := &dryRun{Service: r.prod, name: a.cfg.Services.Prod}
	p, err := pipeline.New(a.backend.Registry, a.backend.Repository, a.backend.Dev, dry,
		pipeline.WithBranch(a.cfg.Branch), pipeline.WithTagPattern(a.cfg.TagPattern()),
		pipeline.WithPlan(a.cfg.Plan()), pipeline.WithClock(fakeNow{a.clock}))
	if err != nil {
		return out, err
	}
	switch {
	case rollback:
		out.Action = "rollback"
		_, err = p.Rollback(ctx, pipeline.RollbackInput{Reason: "dry run"})
	case st.Candidate != "" && !st.Phase.Done() && (revision == "" || revision == st.Candidate):
		// A rollout under way: its next write is the next step (gates
		// permitting); show that without waiting for them.
		_, err = p.Promote(ctx, pipeline.PromoteInput{Manual: pipeline.ManualNext})
	default:
		_, err = p.Promote(ctx, pipeline.PromoteInput{Revision: revision})
	}
	if dry.written == nil {
		if err == nil {
			out.Nothing = "the rollout already succeeded"
			return out, nil
		}
		return out, err
	}
	after := *dry.written
	after.LatestRevision = before.LatestRevision
	out.After, out.Diff = after.String(), traffic.Diff(before, after)
	if s, err := traffic.DecodeState(after.State); err == nil && s.Candidate != "" {
		out.State = fmt.Sprintf("%s %s step %d/%d", s.Candidate, s.Phase, s.Step, len(s.Percents))
	}
	return out, nil
}

// fakeNow is a clock that never sleeps, for dry runs.
type fakeNow struct{ c twostage.Clock }

func (f fakeNow) Now() time.Time                                   { return f.c.Now() }
func (f fakeNow) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }
