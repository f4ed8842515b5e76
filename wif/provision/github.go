package provision

import (
	"cmp"
	"fmt"
	"regexp/syntax"
	"strings"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/wif"
	q "github.com/twostage/twostage/wif/internal/syntax"
)

// GitHubConfig describes a two-stage deployment from one GitHub repository
// for [GitHubSetup]. Zero values take the stated defaults.
type GitHubConfig struct {
	// Project and ProjectNumber name the project (required).
	Project, ProjectNumber string
	// Repo is the repository, with its numeric IDs (required).
	Repo wif.GitHubRepo
	// PoolID is the pool ID; default "github".
	PoolID string
	// ProviderID is the provider ID; default "github-actions".
	ProviderID string
	// Region is the Cloud Run region (required), and the default
	// RepositoryLocation.
	Region string
	// ProdRegions are more regions that run the prod service; the release
	// and promote identities get the same role there.
	ProdRegions []string
	// RepositoryLocation is the Artifact Registry location; default Region.
	RepositoryLocation string
	// Repository is the Artifact Registry repository ID (required).
	Repository string
	// DevService and ProdService are the Cloud Run services (required).
	DevService, ProdService string
	// RuntimeServiceAccount is the email of the services' runtime service
	// account (required): deployers need iam.serviceAccountUser on it, and
	// only on it.
	RuntimeServiceAccount string
	// DevBranch is the branch whose pushes deploy to dev, and the branch the
	// promote workflow runs from; default "main".
	DevBranch string
	// ReleaseTagPattern is the regular expression (RE2) release tag names
	// match, the one pipeline.WithTagPattern enforces; default
	// [DefaultReleaseTagPattern] (pipeline.SemverTag). It must be anchored
	// at the start (^…) or contain no anchor at all.
	ReleaseTagPattern string
	// ProdEnvironment is the GitHub Environment of the promote workflow's
	// job; default "production". Protect it on GitHub: deployment branches
	// DevBranch only, and required reviewers for manual steps.
	ProdEnvironment string
	// PromoteEnvironments are more GitHub Environments whose jobs on
	// DevBranch get the promote identity, such as the environment without
	// reviewers of a job that only resumes a rollout a person started.
	// Give each the same deployment branch rule.
	PromoteEnvironments []string
	// ReleaseEnvironment, when set, also requires release jobs to run in
	// this GitHub Environment (whose deployment rule must then allow the
	// release tags). The default (empty) trusts the tag alone: protect the
	// tags with a ruleset.
	ReleaseEnvironment string
	// SelfHostedRunners accepts tokens from jobs on self-hosted runners.
	// The default (false) pins runner_environment to "github-hosted": a
	// self-hosted runner is a machine GitHub does not reset between jobs.
	SelfHostedRunners bool
	// ForeignWorkflows accepts jobs whose job_workflow_ref is a reusable
	// workflow of another repository. The default (false) requires the
	// job's workflow to be a file of the repository itself
	// (job_workflow_ref starting with the token's repository claim and
	// "/.github/workflows/").
	ForeignWorkflows bool
	// Workflows, when set, pins each identity to one workflow file of Repo
	// (job_workflow_ref), for example ".github/workflows/dev.yml".
	Workflows GitHubWorkflows
	// MonitoringReader grants the promote identity roles/monitoring.viewer
	// on the project (Cloud Monitoring has no narrower resource), for gates
	// that read request counts and latencies from Cloud Monitoring. The
	// default (false) grants nothing on the project.
	MonitoringReader bool
	// PublicInvoker grants roles/run.invoker to allUsers on both services,
	// for a public web service. The default (false) grants no invoker.
	PublicInvoker bool
}

// GitHubWorkflows are the workflow files (paths in the repository, such
// as ".github/workflows/dev.yml") each identity of [GitHubSetup] is pinned
// to through job_workflow_ref; empty means any workflow of the repository.
type GitHubWorkflows struct {
	Dev, Release, Promote string
}

// DefaultReleaseTagPattern is the default [GitHubConfig.ReleaseTagPattern]:
// semver 2.0.0 with a "v" prefix, the same expression as
// pipeline.SemverTag (a test holds them equal).
const DefaultReleaseTagPattern = `^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`

// StageAttribute is the custom attribute [GitHubSetup] adds to the
// provider's mapping: which pipeline step the job may perform,
// [IdentityDev], [IdentityRelease], [IdentityPromote] or [IdentityNone].
// Bindings to principalSet://…/attribute.stage/VALUE then restrict each
// grant to the one event that needs it, whatever else the token says.
const StageAttribute = "stage"

// Values of attribute.stage, the identities of [GitHubSetup].
const (
	// IdentityDev: a push to the dev branch. Builds once and deploys dev.
	IdentityDev = "dev"
	// IdentityRelease: a push of a tag matching the release pattern.
	// Deploys the digest dev ran to prod with no traffic.
	IdentityRelease = "release"
	// IdentityPromote: a workflow_dispatch or schedule run on the dev
	// branch in the prod environment. Moves prod traffic and rolls back.
	IdentityPromote = "promote"
	// IdentityNone: anything else. The provider condition refuses it.
	IdentityNone = "none"
)

// GitHubReleaseRefPattern turns a release tag pattern (matched against the
// tag name, as pipeline.WithTagPattern does) into the pattern of the full
// ref for CEL's matches: tag T matches tagPattern exactly when
// "refs/tags/"+T matches the result. A pattern anchored at the start
// (^v…) gives "^refs/tags/v…"; one without anchors gives
// "^refs/tags/.*(?:…)". Other uses of ^ or \A are refused. Errors match
// [twostage.ErrInvalid].
func GitHubReleaseRefPattern(tagPattern string) (string, error) {
	re, err := syntax.Parse(tagPattern, syntax.Perl)
	if err != nil {
		return "", fmt.Errorf("release tag pattern %q: %w: %w", tagPattern, err, twostage.ErrInvalid)
	}
	if !hasBeginAnchor(re) {
		return "^refs/tags/.*(?:" + tagPattern + ")", nil
	}
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	if len(subs) > 0 && subs[0].Op == syntax.OpBeginText && strings.HasPrefix(tagPattern, "^") {
		rest := subs[1:]
		if !hasBeginAnchor(&syntax.Regexp{Op: syntax.OpConcat, Sub: rest}) {
			// The text after ^ must mean what the rest of the tree means, so
			// that "^refs/tags/" + it keeps the pattern's meaning.
			tail, err := syntax.Parse(tagPattern[1:], syntax.Perl)
			want := &syntax.Regexp{Op: syntax.OpConcat, Sub: rest, Flags: re.Flags}
			if len(rest) == 1 {
				want = rest[0]
			}
			if err == nil && (len(rest) == 0 && tail.Op == syntax.OpEmptyMatch || tail.Equal(want)) {
				return "^refs/tags/" + tagPattern[1:], nil
			}
		}
	}
	return "", fmt.Errorf("release tag pattern %q: anchor it once at the start (^…) or not at all, so the ref pattern can be derived: %w", tagPattern, twostage.ErrInvalid)
}

func hasBeginAnchor(re *syntax.Regexp) bool {
	if re.Op == syntax.OpBeginText || re.Op == syntax.OpBeginLine {
		return true
	}
	for _, s := range re.Sub {
		if hasBeginAnchor(s) {
			return true
		}
	}
	return false
}

// withDefaults returns c with its defaults filled in.
func (c GitHubConfig) withDefaults() GitHubConfig {
	c.PoolID = cmp.Or(c.PoolID, "github")
	c.ProviderID = cmp.Or(c.ProviderID, "github-actions")
	c.RepositoryLocation = cmp.Or(c.RepositoryLocation, c.Region)
	c.DevBranch = cmp.Or(c.DevBranch, "main")
	c.ReleaseTagPattern = cmp.Or(c.ReleaseTagPattern, DefaultReleaseTagPattern)
	c.ProdEnvironment = cmp.Or(c.ProdEnvironment, "production")
	return c
}

// workflowPin returns the clause pinning job_workflow_ref to a workflow
// file of the job's own repository (refExpr is a CEL expression of the
// ref), or "".
func workflowPin(path, refExpr string) string {
	if path == "" {
		return ""
	}
	return " && assertion.job_workflow_ref == assertion.repository + " + q.QuoteCEL("/"+strings.TrimPrefix(path, "/")+"@") + " + " + refExpr
}

// GitHubStageMapping returns the CEL expression of attribute.stage for c
// (after its defaults):
//
//   - "dev" for event_name push with ref refs/heads/DEVBRANCH;
//   - "release" for event_name push, ref_type tag and a ref matching
//     [GitHubReleaseRefPattern] of the release pattern (refs/tags/vEVIL
//     is not a release), in ReleaseEnvironment when one is set;
//   - "promote" for event_name workflow_dispatch or schedule with ref
//     refs/heads/DEVBRANCH and environment ProdEnvironment (or one of
//     PromoteEnvironments);
//   - "none" for anything else: pull_request, pull_request_target,
//     workflow_run, issue_comment, any other branch or tag — and for every
//     job on a self-hosted runner (runner_environment, unless
//     SelfHostedRunners) or whose job_workflow_ref is not a workflow file
//     of the token's own repository (unless ForeignWorkflows), such as
//     another organisation's reusable workflow.
//
// The workflow checks compare job_workflow_ref with the token's own
// repository claim, not a configured name, so they survive a rename; the
// repository itself is pinned by ID in the condition. With c.Workflows,
// each case also requires its workflow file.
func GitHubStageMapping(c GitHubConfig) (string, error) {
	c = c.withDefaults()
	refPattern, err := GitHubReleaseRefPattern(c.ReleaseTagPattern)
	if err != nil {
		return "", err
	}
	branch := q.QuoteCEL("refs/heads/" + c.DevBranch)
	env := func(names ...string) string {
		if len(names) == 1 {
			return " && 'environment' in assertion && assertion.environment == " + q.QuoteCEL(names[0])
		}
		quoted := make([]string, len(names))
		for i, n := range names {
			quoted[i] = q.QuoteCEL(n)
		}
		return " && 'environment' in assertion && assertion.environment in [" + strings.Join(quoted, ", ") + "]"
	}
	dev := "assertion.event_name == 'push' && assertion.ref == " + branch + workflowPin(c.Workflows.Dev, branch)
	release := "assertion.event_name == 'push' && assertion.ref_type == 'tag' && assertion.ref.matches(" + q.QuoteCEL(refPattern) + ")" +
		workflowPin(c.Workflows.Release, "assertion.ref")
	if c.ReleaseEnvironment != "" {
		release += env(c.ReleaseEnvironment)
	}
	promote := "assertion.event_name in ['workflow_dispatch', 'schedule'] && assertion.ref == " + branch + env(append([]string{c.ProdEnvironment}, c.PromoteEnvironments...)...) +
		workflowPin(c.Workflows.Promote, branch)
	steps := fmt.Sprintf("(%s) ? %s : ((%s) ? %s : ((%s) ? %s : %s))",
		dev, q.QuoteCEL(IdentityDev), release, q.QuoteCEL(IdentityRelease), promote, q.QuoteCEL(IdentityPromote), q.QuoteCEL(IdentityNone))
	var guard []string
	if !c.SelfHostedRunners {
		guard = append(guard, "assertion.runner_environment == 'github-hosted'")
	}
	if !c.ForeignWorkflows {
		guard = append(guard, "assertion.job_workflow_ref.startsWith(assertion.repository + '/.github/workflows/')")
	}
	if len(guard) == 0 {
		return steps, nil
	}
	return "!(" + strings.Join(guard, " && ") + ") ? " + q.QuoteCEL(IdentityNone) + " : (" + steps + ")", nil
}

// GitHubSetupCondition returns the attribute condition of [GitHubSetup]:
// [wif.GitHubCondition] (the numeric repository and owner IDs) and an
// attribute.stage other than "none", so a token that no pipeline step
// needs is refused before it becomes an identity.
func GitHubSetupCondition(repo wif.GitHubRepo) string {
	return wif.GitHubCondition(repo) + " && attribute." + StageAttribute + " != " + q.QuoteCEL(IdentityNone)
}

// GitHubSetup returns the least-privilege setup for deploying c.Repo to a
// dev and a prod Cloud Run service, with one identity per pipeline step
// (see [GitHubStageMapping] for which event gets which):
//
//   - the provider of [wif.GitHubProvider] with the attribute.stage mapping
//     of [GitHubStageMapping] and the condition of [GitHubSetupCondition];
//   - dev (principalSet://…/attribute.stage/dev):
//     roles/artifactregistry.writer on the repository (push the image
//     once) and roles/run.developer on the dev service;
//   - release: roles/artifactregistry.reader on the repository (resolve
//     the tag dev pushed; a release never pushes) and roles/run.developer
//     on the prod service (deploy a revision with no traffic);
//   - promote: roles/run.developer on the prod service (move traffic, roll
//     back), nothing on the repository;
//   - each of them: roles/iam.serviceAccountUser on the runtime service
//     account only (a deploy acts as it), never on the project;
//   - roles/run.invoker for allUsers on both services only with
//     PublicInvoker.
//
// Release and promote are separate identities so that each holds only
// what its step needs, but Cloud Run cannot separate them further:
// deploying a no-traffic revision and moving traffic are both
// run.services.update, in roles/run.developer (run.services.get, .list,
// .create, .update, .delete; run.revisions.get, .list, .delete;
// run.configurations.*, run.routes.*), and no predefined or custom role
// grants one without the other. The release identity can therefore move
// traffic too; what limits it is the claim set (a pushed tag matching the
// release pattern), so protect release tags with a ruleset, or set
// ReleaseEnvironment to put release jobs behind reviewers.
// roles/artifactregistry.reader holds artifactregistry.repositories.get,
// .list, .downloadArtifacts, artifactregistry.tags.get, .list and the
// docker image reads; .writer adds .uploadArtifacts and tag create and
// update. roles/iam.serviceAccountUser holds iam.serviceAccounts.actAs,
// .get and .list. Nothing is granted on the project unless
// MonitoringReader asks for roles/monitoring.viewer (monitoring.timeSeries.list
// and the other reads of Cloud Monitoring) for promote. The error names a
// release tag pattern that cannot be turned into a ref pattern.
func GitHubSetup(c GitHubConfig) (Setup, error) {
	c = c.withDefaults()
	mapping, err := GitHubStageMapping(c)
	if err != nil {
		return Setup{}, fmt.Errorf("wif: GitHub setup: %w", err)
	}
	pool := wif.Pool{Project: c.Project, ProjectNumber: c.ProjectNumber, ID: c.PoolID, DisplayName: "GitHub Actions"}
	prov := wif.GitHubProvider(pool, c.ProviderID, c.Repo)
	prov.AttributeMapping["attribute."+StageAttribute] = mapping
	prov.AttributeCondition = GitHubSetupCondition(c.Repo)

	member := func(identity string) string { return wif.AttributePrincipal(pool, StageAttribute, identity).String() }
	dev, release, promote := member(IdentityDev), member(IdentityRelease), member(IdentityPromote)
	repo := RepositoryResource(c.Project, c.RepositoryLocation, c.Repository)
	devSvc := RunServiceResource(c.Project, c.Region, c.DevService, StageDev)
	prodSvc := RunServiceResource(c.Project, c.Region, c.ProdService, StageProd)
	sa := ServiceAccountResource(c.Project, c.RuntimeServiceAccount)
	bs := []Binding{
		{Resource: repo, Role: "roles/artifactregistry.writer", Member: dev},
		{Resource: repo, Role: "roles/artifactregistry.reader", Member: release},
		{Resource: devSvc, Role: "roles/run.developer", Member: dev},
		{Resource: prodSvc, Role: "roles/run.developer", Member: release},
		{Resource: prodSvc, Role: "roles/run.developer", Member: promote},
	}
	for _, r := range c.ProdRegions {
		svc := RunServiceResource(c.Project, r, c.ProdService, StageProd)
		bs = append(bs,
			Binding{Resource: svc, Role: "roles/run.developer", Member: release},
			Binding{Resource: svc, Role: "roles/run.developer", Member: promote})
	}
	for _, m := range []string{dev, release, promote} {
		bs = append(bs, Binding{Resource: sa, Role: "roles/iam.serviceAccountUser", Member: m})
	}
	if c.MonitoringReader {
		bs = append(bs, Binding{Resource: ProjectResource(c.Project), Role: "roles/monitoring.viewer", Member: promote})
	}
	if c.PublicInvoker {
		bs = append(bs,
			Binding{Resource: devSvc, Role: "roles/run.invoker", Member: "allUsers"},
			Binding{Resource: prodSvc, Role: "roles/run.invoker", Member: "allUsers"})
	}
	return Setup{
		Project: c.Project, ProjectNumber: c.ProjectNumber, Pool: pool, Provider: prov, Bindings: bs,
		Repo: c.Repo, DevBranch: c.DevBranch, ProdEnvironment: c.ProdEnvironment, Assumptions: githubAssumptions(c),
	}, nil
}

// githubAssumptions lists the GitHub settings the identities of c rely on.
func githubAssumptions(c GitHubConfig) []string {
	out := []string{
		fmt.Sprintf("branch %s is protected (pull requests with review, no force push, no deletion): every push to it gets the dev identity, and the promote workflow runs its code", c.DevBranch),
		fmt.Sprintf("tags matching %s are protected by a tag ruleset (only maintainers create, update or delete them): whoever pushes one gets the release identity, which holds run.services.update on the prod service", c.ReleaseTagPattern),
		fmt.Sprintf("environment %q allows deployments from branch %s only (deployment branches and tags: selected) and has required reviewers: a workflow_dispatch or schedule run on %s in it gets the promote identity", c.ProdEnvironment, c.DevBranch, c.DevBranch),
	}
	for _, e := range c.PromoteEnvironments {
		out = append(out, fmt.Sprintf("environment %q allows deployments from branch %s only: a workflow_dispatch or schedule run on %s in it gets the promote identity too, so without required reviewers anyone who may run workflows on %s can move prod traffic with it", e, c.DevBranch, c.DevBranch, c.DevBranch))
	}
	if c.ReleaseEnvironment != "" {
		out = append(out, fmt.Sprintf("environment %q allows the release tags (deployment branches and tags: tags matching the release pattern) and has required reviewers: release jobs must run in it", c.ReleaseEnvironment))
	}
	if c.SelfHostedRunners {
		out = append(out, "self-hosted runners are trusted as much as GitHub-hosted ones: they must be ephemeral and reserved for this repository")
	}
	return out
}
