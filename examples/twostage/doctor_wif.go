package main

import (
	"fmt"
	"strings"

	"github.com/twostage/twostage/wif/provision"
)

// doctorWIF reports what doctor knows of the keyless setup: the lint
// findings (the textual rules and the simulated adversarial claim sets),
// and the GitHub settings the identity model assumes, which no IAM policy
// enforces and doctor cannot read (the branch protection, tag rulesets and
// environment rules need the repository's admin API).
func (a *app) doctorWIF(s provision.Setup, add func(check, sev, msg, fix string)) {
	fs := provision.Lint(s)
	for _, f := range fs {
		add("wif/"+f.ID, strings.ToLower(fmt.Sprint(f.Severity)), f.Message, f.Fix)
	}
	if len(fs) == 0 {
		n := len(provision.GitHubProbes(s.Repo, s.DevBranch, s.ProdEnvironment))
		add("wif", "ok", fmt.Sprintf("provider %s: lint clean; %d adversarial claim sets simulated (fork pull request, pull_request_target, workflow_run, issue_comment, other repositories, look-alike IDs, vEVIL, feature-branch environment job, self-hosted runner, foreign reusable workflow), none gets a stage", s.Provider.ID, n), "")
	}
	for _, as := range s.Assumptions {
		add("wif/github-settings", "info", "assumed, not checked: "+as, "set it in the repository's Settings (Branches / Rules → Rulesets / Environments); doctor cannot read it without admin access")
	}
}
