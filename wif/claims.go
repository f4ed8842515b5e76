package wif

import "strings"

// GitHubClaims returns the claims of a sample GitHub Actions OIDC token
// from repo for a workflow triggered by event ("push", "pull_request",
// "pull_request_target", "workflow_dispatch", …) on ref
// ("refs/heads/main", "refs/tags/v1.2.3", "refs/pull/7/merge"), with the
// claim names and string-typed values GitHub documents ("About security
// hardening with OpenID Connect"). It has no aud claim, so provision.Simulate does
// not check the audience. Use it to try a setup offline:
//
//	res, err := provision.Simulate(setup, wif.GitHubClaims(repo, "push", "refs/tags/v1.2.3"))
func GitHubClaims(repo GitHubRepo, event, ref string) Claims {
	full := repo.Owner + "/" + repo.Name
	refType := "branch"
	if strings.HasPrefix(ref, "refs/tags/") {
		refType = "tag"
	}
	sub := "repo:" + full + ":ref:" + ref
	c := Claims{
		"iss":                   GitHubIssuer,
		"sub":                   sub,
		"repository":            full,
		"repository_id":         repo.ID,
		"repository_owner":      repo.Owner,
		"repository_owner_id":   repo.OwnerID,
		"repository_visibility": "private",
		"ref":                   ref,
		"ref_type":              refType,
		"sha":                   "0123456789abcdef0123456789abcdef01234567",
		"event_name":            event,
		"workflow":              "deploy",
		"workflow_ref":          full + "/.github/workflows/deploy.yml@" + ref,
		"job_workflow_ref":      full + "/.github/workflows/deploy.yml@" + ref,
		"actor":                 "octocat",
		"actor_id":              "583231",
		"run_id":                "9876543210",
		"run_number":            "42",
		"run_attempt":           "1",
		"runner_environment":    "github-hosted",
	}
	if event == "pull_request" || event == "pull_request_target" {
		c["sub"] = "repo:" + full + ":pull_request"
		c["head_ref"] = "feature"
		c["base_ref"] = "main"
		if event == "pull_request" && !strings.HasPrefix(ref, "refs/pull/") {
			c["ref"] = "refs/pull/1/merge"
		}
	}
	return c
}
