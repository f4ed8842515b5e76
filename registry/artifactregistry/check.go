package artifactregistry

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Severity grades a [Finding].
type Severity string

// Severities, from least to most serious.
const (
	SeverityInfo    Severity = "info"
	SeverityWarning Severity = "warning"
	SeverityError   Severity = "error"
)

// Blocking reports whether the pipeline cannot work until the finding is
// fixed.
func (s Severity) Blocking() bool { return s == SeverityError }

// Finding is one result of [Registry.Check].
type Finding struct {
	// Severity grades the finding.
	Severity Severity
	// Check names what was checked: "repository", "format",
	// "immutable-tags" or "cleanup-policy".
	Check string
	// Message says what was found and what to do, naming the repository
	// resource (and the policy, for cleanup policies).
	Message string
}

// String returns "SEVERITY: CHECK: MESSAGE".
func (f Finding) String() string { return string(f.Severity) + ": " + f.Check + ": " + f.Message }

// Check reviews the repository for the build-once model and returns what
// it found, most serious first. The error is non-nil only when the
// repository could not be read for another reason than not existing (a
// missing repository is an error-severity finding).
//
//   - The repository must exist and have format DOCKER.
//   - docker_config.immutable_tags is recommended: a commit tag that
//     cannot move means the digest a release resolves is the one dev ran.
//   - A cleanup policy that deletes tagged images (tag_state TAGGED or
//     ANY) matching commit tags — no tag_prefixes, or a prefix that is a
//     hex string — may delete a commit's image before it is released: the
//     release then cannot find it. Each such policy is a warning naming it
//     (information only while cleanup_policy_dry_run is set).
func (r *Registry) Check(ctx context.Context) ([]Finding, error) {
	repo, err := r.client.GetRepository(ctx, &artifactregistrypb.GetRepositoryRequest{Name: r.repo})
	if status.Code(err) == codes.NotFound {
		return []Finding{{SeverityError, "repository", fmt.Sprintf("repository %s does not exist; create it with format DOCKER and immutable tags: gcloud artifacts repositories create %s --repository-format=docker --location=%s --immutable-tags", r.repo, repoID(r.repo), location(r.repo))}}, nil
	}
	if err != nil {
		return nil, wrap(err, "checking repository %s", r.repo)
	}
	return checkRepository(repo), nil
}

func checkRepository(repo *artifactregistrypb.Repository) []Finding {
	name := repo.GetName()
	var out []Finding
	if repo.GetFormat() != artifactregistrypb.Repository_DOCKER {
		out = append(out, Finding{SeverityError, "format", fmt.Sprintf("repository %s has format %s; container images need a DOCKER repository", name, repo.GetFormat())})
		return out
	}
	if !repo.GetDockerConfig().GetImmutableTags() {
		out = append(out, Finding{SeverityWarning, "immutable-tags", fmt.Sprintf("repository %s allows tags to be moved; turn on immutable tags (docker_config.immutable_tags, gcloud artifacts repositories update %s --location=%s --immutable-tags) so a commit tag always names the digest that was tested", name, repoID(name), location(name))})
	}
	for _, id := range slices.Sorted(maps.Keys(repo.GetCleanupPolicies())) {
		p := repo.GetCleanupPolicies()[id]
		if p.GetAction() != artifactregistrypb.CleanupPolicy_DELETE {
			continue
		}
		cond := p.GetCondition()
		if cond == nil {
			continue // most_recent_versions applies to KEEP policies only
		}
		state := cond.GetTagState()
		if state != artifactregistrypb.CleanupPolicyCondition_TAGGED && state != artifactregistrypb.CleanupPolicyCondition_ANY {
			continue
		}
		if len(cond.GetTagPrefixes()) > 0 && !slices.ContainsFunc(cond.GetTagPrefixes(), isHex) {
			continue
		}
		what := "every tagged image"
		if len(cond.GetTagPrefixes()) > 0 {
			what = "images tagged " + strings.Join(cond.GetTagPrefixes(), "*, ") + "*"
		}
		if len(cond.GetPackageNamePrefixes()) > 0 {
			what += " in packages " + strings.Join(cond.GetPackageNamePrefixes(), "*, ") + "*"
		}
		if d := cond.GetOlderThan(); d != nil {
			what += " older than " + d.AsDuration().String()
		}
		sev, note := SeverityWarning, ""
		if repo.GetCleanupPolicyDryRun() {
			sev, note = SeverityInfo, " (cleanup_policy_dry_run is set, so nothing is deleted yet)"
		}
		out = append(out, Finding{sev, "cleanup-policy", fmt.Sprintf("cleanup policy %q of repository %s deletes %s, which includes commit-SHA tags: a commit's image can be deleted before it is released%s; restrict it to tag_state UNTAGGED, or add a KEEP policy for release tags and give commit images time to be released", id, name, what, note)})
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return rank(b.Severity) - rank(a.Severity) })
	return out
}

func rank(s Severity) int {
	switch s {
	case SeverityError:
		return 2
	case SeverityWarning:
		return 1
	}
	return 0
}

// isHex reports whether a tag prefix could begin a commit SHA.
func isHex(p string) bool {
	return p != "" && strings.Trim(strings.ToLower(p), "0123456789abcdef") == ""
}

func repoID(name string) string { _, _, r, _ := parseRepository(name); return r }

func location(name string) string { _, l, _, _ := parseRepository(name); return l }
