package provision

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/twostage/twostage/wif"
)

// LintSeverity ranks a [LintFinding].
type LintSeverity string

// Severities of findings.
const (
	// LintError is a hole: someone other than the intended workflow can
	// get access, or can get more than it needs in a way that matters.
	LintError LintSeverity = "error"
	// LintWarning is more access than needed.
	LintWarning LintSeverity = "warning"
)

// LintFinding is one problem [Lint] found.
type LintFinding struct {
	// ID is the rule's stable identifier, "WIF001" … "WIF008".
	ID       string
	Severity LintSeverity
	// Message says what is wrong, naming the binding or field.
	Message string
	// Fix says what to do instead.
	Fix string
}

// String returns "ID severity: message (fix: …)".
func (f LintFinding) String() string {
	return fmt.Sprintf("%s %s: %s (fix: %s)", f.ID, f.Severity, f.Message, f.Fix)
}

// The lint rules. IDs are stable: a rule is never renumbered.
const (
	// RuleNoCondition: the provider has no attribute condition, so every
	// token of its issuer is accepted (for GitHub: every repository).
	RuleNoCondition = "WIF001"
	// RuleNameBased: the condition or a binding matches a repository or
	// owner by name (assertion.repository, attribute.repository, sub), which
	// a deleted or renamed repository's new holder can reuse; match the
	// immutable repository_id / repository_owner_id.
	RuleNameBased = "WIF002"
	// RuleWildcard: a binding to principalSet://…/*, every identity of the
	// pool.
	RuleWildcard = "WIF003"
	// RuleLongSubject: the google.subject mapping can exceed 127 bytes for
	// a valid token (long owner, repository or branch names), which STS
	// then refuses.
	RuleLongSubject = "WIF004"
	// RuleProjectWide: a role granted on the project that a resource-level
	// grant covers (Artifact Registry on the repository, Cloud Run on the
	// service, serviceAccountUser on the service account).
	RuleProjectWide = "WIF005"
	// RuleRunAdmin: roles/run.admin where roles/run.developer suffices
	// (admin also sets the service's IAM policy).
	RuleRunAdmin = "WIF006"
	// RuleProdFromBranch: a prod resource is reachable from a branch or a
	// pull request, not only from release tags.
	RuleProdFromBranch = "WIF007"
	// RuleAdversarialToken: one of the adversarial claim sets of
	// [GitHubProbes] (a fork's pull request, another repository, a
	// look-alike ID, a non-release tag, a self-hosted runner, …) is
	// accepted and gets a binding. It catches what the textual rules
	// cannot: `true`, tautologies, prefix matches on IDs, owner-only
	// conditions, names read through assertion['repository'].
	RuleAdversarialToken = "WIF008"
)

// nameClaims matches a reference to a name-valued claim or attribute:
// assertion.repository, assertion.repository_owner, assertion.sub and the
// attribute.* of the same names (word boundaries keep repository_id and
// repository_owner_id out).
const nameClaims = `\b(assertion|attribute)\.(repository|repository_owner|sub)\b`

// nameAttributes are custom attributes that GitHubAttributeMapping (and
// most published setups) map from name-valued claims.
func nameAttributes() []string {
	return []string{"repository", "repository_owner", "sub", "actor", "workflow_ref"}
}

// projectWideRoles maps roles that have a narrower home to that home.
func projectWideRoles(role string) (ResourceKind, bool) {
	switch role {
	case "roles/artifactregistry.writer", "roles/artifactregistry.reader", "roles/artifactregistry.repoAdmin", "roles/artifactregistry.createOnPushWriter":
		return ResourceRepository, true
	case "roles/run.developer", "roles/run.admin", "roles/run.invoker", "roles/run.viewer":
		return ResourceRunService, true
	case "roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator":
		return ResourceServiceAccount, true
	}
	return "", false
}

// Lint checks a setup against the rules of keyless deployment from a
// shared OIDC issuer (see the Rule constants) and returns the findings,
// rule by rule in ID order. The secure defaults of [GitHubSetup] produce
// none. Lint does not call any API.
func Lint(s Setup) []LintFinding {
	var out []LintFinding
	add := func(id string, sev LintSeverity, fix, format string, args ...any) {
		out = append(out, LintFinding{ID: id, Severity: sev, Message: fmt.Sprintf(format, args...), Fix: fix})
	}
	p := s.Provider

	// WIF001
	if strings.TrimSpace(p.AttributeCondition) == "" {
		add(RuleNoCondition, LintError,
			"set Provider.AttributeCondition, for example wif.GitHubCondition(repo), which pins the numeric repository and owner IDs",
			"provider %q has no attribute condition: every token from %s is accepted, from any repository", p.ID, p.IssuerURI())
	}

	// WIF002
	if refs := regexp.MustCompile(nameClaims).FindAllString(p.AttributeCondition, -1); len(refs) > 0 {
		slices.Sort(refs)
		add(RuleNameBased, LintError,
			"compare assertion.repository_id and assertion.repository_owner_id (numeric, never reused) instead",
			"provider %q condition matches by name (%s): after a rename or deletion, another account can take the name", p.ID, strings.Join(slices.Compact(refs), ", "))
	}
	for _, b := range s.Bindings {
		pr, err := wif.ParsePrincipal(b.Member)
		if err != nil {
			continue
		}
		nameBased := pr.Kind == wif.KindAttribute && slices.Contains(nameAttributes(), pr.Attribute) ||
			pr.Kind == wif.KindSubject && strings.HasPrefix(pr.Subject, "repo:") && strings.Contains(pr.Subject, "/")
		if nameBased {
			add(RuleNameBased, LintError,
				"bind principalSet://…/attribute.repository_id/ID (wif.RepositoryPrincipal) or a stage attribute instead",
				"binding %s matches a repository by name", b)
		}
	}

	// WIF003
	for _, b := range s.Bindings {
		if pr, err := wif.ParsePrincipal(b.Member); err == nil && pr.Wildcard() {
			add(RuleWildcard, LintError,
				"bind an attribute principal set (principalSet://…/attribute.repository_id/ID or …/attribute.stage/release)",
				"binding %s grants every identity of the pool", b)
		}
	}

	// WIF004
	if n, ok := longestSubject(p); ok && n > wif.MaxSubjectBytes {
		add(RuleLongSubject, LintWarning,
			"map google.subject from numeric claims, as wif.GitHubAttributeMapping does ('repo:' + assertion.repository_id + ':run:' + …)",
			"provider %q google.subject = %q reaches %d bytes for a valid token with long names; STS refuses more than %d", p.ID, p.AttributeMapping["google.subject"], n, wif.MaxSubjectBytes)
	}

	// WIF005, WIF006
	for _, b := range s.Bindings {
		if b.Resource.Kind != ResourceProject {
			continue
		}
		if home, ok := projectWideRoles(b.Role); ok {
			add(RuleProjectWide, LintWarning,
				fmt.Sprintf("grant %s on the %s instead of the project", b.Role, home),
				"binding %s is project-wide: it reaches every %s of the project", b, home)
		}
	}
	for _, b := range s.Bindings {
		if b.Role == "roles/run.admin" {
			add(RuleRunAdmin, LintWarning,
				"grant roles/run.developer, which deploys and routes traffic without changing who may invoke or administer the service",
				"binding %s grants run.admin: it can also rewrite the service's IAM policy", b)
		}
	}

	// WIF007
	flagged := map[string]bool{}
	for _, b := range s.Bindings {
		if b.Resource.Stage != StageProd {
			continue
		}
		pr, err := wif.ParsePrincipal(b.Member)
		if err != nil {
			continue
		}
		if pr.Kind == wif.KindAll || pr.Kind == wif.KindAttribute && slices.Contains([]string{"repository_id", "repository", "repository_owner_id", "repository_owner", "actor", "actor_id"}, pr.Attribute) {
			flagged[b.key()] = true
			add(RuleProdFromBranch, LintError,
				"bind prod resources to identities that only release tags and promotion runs get (principalSet://…/attribute.stage/release and …/promote of provision.GitHubSetup)",
				"binding %s on a prod resource matches tokens from every branch and pull request", b)
		}
	}
	if s.Repo.ID != "" {
		for _, c := range []struct{ what, event, ref string }{
			{"a push to a feature branch", "push", "refs/heads/feature"},
			{"a push to the default branch", "push", "refs/heads/main"},
			{"a pull request", "pull_request", "refs/pull/1/merge"},
			{"a pull_request_target workflow", "pull_request_target", "refs/heads/main"},
		} {
			r, err := Simulate(s, wif.GitHubClaims(s.Repo, c.event, c.ref))
			if err != nil || !r.Accepted {
				continue
			}
			for _, b := range r.Bindings {
				if b.Resource.Stage != StageProd || flagged[b.key()] {
					continue
				}
				flagged[b.key()] = true
				add(RuleProdFromBranch, LintError,
					"bind prod resources to identities that only release tags and promotion runs get (principalSet://…/attribute.stage/release and …/promote of provision.GitHubSetup)",
					"binding %s on a prod resource applies to %s (%s)", b, c.what, c.ref)
			}
		}
	}

	// WIF008
	lintProbes(s, add)
	return out
}

// longestSubject evaluates the google.subject mapping on a GitHub token
// with the longest names GitHub allows (owner 39 bytes, repository 100,
// a 200-byte branch) and reports its length; ok is false when the mapping
// cannot be evaluated.
func longestSubject(p wif.Provider) (n int, ok bool) {
	repo := wif.GitHubRepo{
		Owner:   strings.Repeat("o", 39),
		Name:    strings.Repeat("r", 100),
		OwnerID: "123456789",
		ID:      "987654321",
	}
	c := wif.GitHubClaims(repo, "push", "refs/heads/"+strings.Repeat("b", 200))
	c["environment"] = strings.Repeat("e", 255)
	// Lengths matter, not the condition: evaluate the mapping alone.
	p.AttributeCondition = ""
	m, err := Evaluate(p, c)
	if err != nil {
		return 0, false
	}
	sub, ok := m.Attributes["google.subject"]
	return len(sub), ok
}
