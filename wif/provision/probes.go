package provision

import (
	"cmp"
	"strconv"
	"strings"

	"github.com/twostage/twostage/wif"
)

// Probe is one adversarial claim set of the semantic lint: a GitHub token
// that no deployment step should get anything for.
type Probe struct {
	// Name says what the token stands for: "fork pull request", …
	Name string
	// Claims are the token's claims, with GitHub's documented claim names.
	Claims wif.Claims
	// Fix says how a setup that grants this token something should change.
	Fix string
}

// GitHubProbes returns the fixed corpus of adversarial claim sets [Lint]
// plays against a setup for repo, whose dev branch and prod environment
// are devBranch and prodEnvironment (empty: "main" and "production"):
//
//   - a pull request from a fork (pull_request, refs/pull/N/merge);
//   - pull_request_target on the dev branch (runs with the base
//     repository's identity on behalf of a fork's author);
//   - workflow_run on the dev branch, triggered by a fork's pull request,
//     in the prod environment;
//   - issue_comment on the dev branch, in the prod environment;
//   - a push to the dev branch from another repository of the same owner;
//   - a push of a release tag from a repository recreated under the same
//     name (new repository ID);
//   - a push from a cybersquatted name (same owner and repository names,
//     new owner and repository IDs);
//   - a look-alike repository ID (the real ID followed by more digits);
//   - a push of tag vEVIL, which is not a release;
//   - workflow_dispatch on a feature branch in the prod environment;
//   - a push to the dev branch run on a self-hosted runner;
//   - a push to the dev branch whose job runs another organisation's
//     reusable workflow (job_workflow_ref).
//
// Claims follow GitHub's "OpenID Connect reference" (claim names and
// string values); the shapes of workflow_run, issue_comment and
// pull_request_target tokens (ref of the default branch, the base
// repository's claims) follow GitHub's documentation of those events.
func GitHubProbes(repo wif.GitHubRepo, devBranch, prodEnvironment string) []Probe {
	devBranch = cmp.Or(devBranch, "main")
	prodEnvironment = cmp.Or(prodEnvironment, "production")
	branch := "refs/heads/" + devBranch
	with := func(c wif.Claims, kv ...string) wif.Claims {
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i]] = kv[i+1]
		}
		return c
	}
	sibling := wif.GitHubRepo{Owner: repo.Owner, Name: repo.Name + "-tools", OwnerID: repo.OwnerID, ID: repo.ID + "0" + "1"}
	recreated := wif.GitHubRepo{Owner: repo.Owner, Name: repo.Name, OwnerID: repo.OwnerID, ID: "9" + repo.ID}
	squatted := wif.GitHubRepo{Owner: repo.Owner, Name: repo.Name, OwnerID: "9" + repo.OwnerID, ID: "8" + repo.ID}
	lookalike := wif.GitHubRepo{Owner: "octo-0rg", Name: repo.Name, OwnerID: repo.OwnerID + "1", ID: repo.ID + "7"}
	const (
		fixEvent = "map attribute.stage from the exact events that deploy (push to the dev branch, push of a release tag, workflow_dispatch or schedule in the prod environment) as provision.GitHubStageMapping does, and refuse attribute.stage \"none\" in the condition"
		fixRepo  = "pin the numeric IDs exactly: assertion.repository_owner_id == \"OWNER_ID\" && assertion.repository_id == \"REPO_ID\" (wif.GitHubCondition); never names, prefixes or one of the two"
	)
	return []Probe{
		{"fork pull request", with(wif.GitHubClaims(repo, "pull_request", "refs/pull/7/merge"), "head_ref", "mallory-patch-1", "actor", "mallory", "actor_id", "6660666"), fixEvent},
		{"pull_request_target", with(wif.GitHubClaims(repo, "pull_request_target", branch), "head_ref", "mallory-patch-1", "actor", "mallory", "actor_id", "6660666"), fixEvent},
		{"workflow_run from a fork", with(wif.GitHubClaims(repo, "workflow_run", branch), "environment", prodEnvironment, "actor", "mallory", "actor_id", "6660666"), fixEvent},
		{"issue_comment", with(wif.GitHubClaims(repo, "issue_comment", branch), "environment", prodEnvironment, "actor", "mallory", "actor_id", "6660666"), fixEvent},
		{"another repository of the owner", wif.GitHubClaims(sibling, "push", branch), fixRepo},
		{"recreated repository", wif.GitHubClaims(recreated, "push", "refs/tags/v1.2.3"), fixRepo},
		{"cybersquatted name", wif.GitHubClaims(squatted, "push", branch), fixRepo},
		{"look-alike ID", wif.GitHubClaims(lookalike, "push", branch), fixRepo},
		{"non-release tag vEVIL", wif.GitHubClaims(repo, "push", "refs/tags/vEVIL"), "match release tags with the release pattern itself (assertion.ref.matches, provision.GitHubReleaseRefPattern), not a prefix"},
		{"environment job on a feature branch", with(wif.GitHubClaims(repo, "workflow_dispatch", "refs/heads/feature"), "environment", prodEnvironment), "require the dev branch as well as the prod environment for promotion (assertion.ref == \"" + branch + "\"); an environment's branch rule is a GitHub setting the provider cannot see"},
		{"self-hosted runner", with(wif.GitHubClaims(repo, "push", branch), "runner_environment", "self-hosted"), "require assertion.runner_environment == 'github-hosted' (GitHubConfig.SelfHostedRunners false)"},
		{"another organisation's reusable workflow", with(wif.GitHubClaims(repo, "push", branch), "job_workflow_ref", "evil-org/workflows/.github/workflows/deploy.yml@refs/heads/main"), "require job_workflow_ref to start with the repository's own workflows (assertion.job_workflow_ref.startsWith(assertion.repository + '/.github/workflows/'))"},
	}
}

// lintProbes plays the corpus of [GitHubProbes] against s and reports each
// claim set that gets a binding.
func lintProbes(s Setup, add func(id string, sev LintSeverity, fix, format string, args ...any)) {
	if s.Repo.ID == "" || s.Repo.OwnerID == "" {
		return
	}
	for _, p := range GitHubProbes(s.Repo, s.DevBranch, s.ProdEnvironment) {
		r, err := Simulate(s, p.Claims)
		if err != nil || !r.Accepted || len(r.Bindings) == 0 {
			continue
		}
		add(RuleAdversarialToken, LintError, p.Fix,
			"provider %q accepts the adversarial token %q (event %s, ref %s, repository_id %s) as stage %s and grants it %s",
			s.Provider.ID, p.Name, p.Claims.String("event_name"), p.Claims.String("ref"), p.Claims.String("repository_id"),
			strconv.Quote(r.Mapping.Attributes["attribute."+StageAttribute]), strings.Join(r.Roles(), "; "))
	}
}
