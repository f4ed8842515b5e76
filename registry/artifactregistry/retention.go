package artifactregistry

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"

	"github.com/twostage/twostage/registry"
)

// CheckRetention reports every cleanup policy of the repository that can
// delete, now or later, an artifact in running — the digests prod
// revisions run, whose loss would leave a revision (the stable one, or the
// one a rollback returns to) without its image. Each such policy and
// artifact is a finding of check "retention": an error, or information
// while cleanup_policy_dry_run is set. The error is non-nil only when the
// repository or a version could not be read.
//
// The rules are Artifact Registry's (cloud.google.com/artifact-registry/
// docs/repositories/cleanup-policy-overview and the CleanupPolicyCondition
// field comments): a DELETE policy's conditions all apply (tag state,
// "applied on any prefix match" for tag, version and package name
// prefixes, older_than, newer_than); a version that also matches a KEEP
// policy's condition is kept ("If an artifact version matches criteria in
// both a delete policy and a keep policy, Artifact Registry applies the
// keep policy"). A KEEP condition bounded by age, and a keep-most-recent
// policy, protect an artifact only for a while, so they are not counted; a
// DELETE policy with older_than counts, since every artifact grows old.
func (r *Registry) CheckRetention(ctx context.Context, running []registry.Artifact) ([]Finding, error) {
	if len(running) == 0 {
		return nil, nil
	}
	var repo *artifactregistrypb.Repository
	err := r.retry(ctx, func(ctx context.Context) error {
		var err error
		repo, err = r.client.GetRepository(ctx, &artifactregistrypb.GetRepositoryRequest{Name: r.repo})
		return err
	})
	if err != nil {
		return nil, wrap(err, "checking the retention of repository %s", r.repo)
	}
	var out []Finding
	seen := map[string]bool{}
	for _, a := range running {
		if seen[a.String()] {
			continue
		}
		seen[a.String()] = true
		_, pkg, err := r.split("checking the retention of", a.String())
		if err != nil {
			return nil, err
		}
		name := r.packageName(pkg) + "/versions/" + a.Digest
		var v *artifactregistrypb.Version
		err = r.retry(ctx, func(ctx context.Context) error {
			var err error
			v, err = r.client.GetVersion(ctx, &artifactregistrypb.GetVersionRequest{Name: name, View: artifactregistrypb.VersionView_FULL})
			return err
		})
		if err != nil {
			return nil, wrap(err, "checking the retention of %s: getting version %s", a, name)
		}
		cand := candidate{pkg: pkg, version: a.Digest, age: max(0, r.clock.Now().Sub(v.GetCreateTime().AsTime()))}
		for _, t := range v.GetRelatedTags() {
			cand.tags = append(cand.tags, path.Base(t.GetName()))
		}
		out = append(out, retention(repo, a, cand)...)
	}
	return out, nil
}

// candidate is an artifact version as cleanup policies see it.
type candidate struct {
	pkg, version string
	tags         []string
	age          time.Duration
}

// retention returns a finding per DELETE policy of repo that can delete c.
func retention(repo *artifactregistrypb.Repository, a registry.Artifact, c candidate) []Finding {
	policies := repo.GetCleanupPolicies()
	for _, p := range policies {
		if p.GetAction() == artifactregistrypb.CleanupPolicy_KEEP && p.GetCondition() != nil &&
			p.GetCondition().GetOlderThan() == nil && p.GetCondition().GetNewerThan() == nil && matches(p.GetCondition(), c) {
			return nil
		}
	}
	var out []Finding
	for _, id := range slices.Sorted(maps.Keys(policies)) {
		p := policies[id]
		cond := p.GetCondition()
		if p.GetAction() != artifactregistrypb.CleanupPolicy_DELETE || cond == nil || !matches(cond, c) {
			continue
		}
		if nt := cond.GetNewerThan(); nt != nil && c.age >= nt.AsDuration() {
			continue // too old for this policy already, and only getting older
		}
		when := "now"
		if ot := cond.GetOlderThan(); ot != nil && c.age <= ot.AsDuration() {
			when = fmt.Sprintf("once older than %s (in %s)", ot.AsDuration(), (ot.AsDuration() - c.age).Round(time.Hour))
		}
		sev, note := SeverityError, ""
		if repo.GetCleanupPolicyDryRun() {
			sev, note = SeverityInfo, " (cleanup_policy_dry_run is set: nothing is deleted yet)"
		}
		out = append(out, Finding{sev, "retention", fmt.Sprintf(
			"cleanup policy %q of repository %s can delete %s, which a prod revision runs, %s%s; keep it with a KEEP policy matching it, for example {\"id\": \"keep-prod\", \"action\": \"Keep\", \"condition\": {\"versionNamePrefixes\": [%q]}} (gcloud artifacts repositories set-cleanup-policies), or narrow the policy to tag_state UNTAGGED",
			id, repo.GetName(), a, when, note, c.version)})
	}
	return out
}

// matches reports whether cond's non-age conditions hold for c.
func matches(cond *artifactregistrypb.CleanupPolicyCondition, c candidate) bool {
	switch cond.GetTagState() {
	case artifactregistrypb.CleanupPolicyCondition_TAGGED:
		if len(c.tags) == 0 {
			return false
		}
	case artifactregistrypb.CleanupPolicyCondition_UNTAGGED:
		if len(c.tags) > 0 {
			return false
		}
	}
	anyPrefix := func(prefixes []string, values ...string) bool {
		if len(prefixes) == 0 {
			return true
		}
		for _, p := range prefixes {
			for _, v := range values {
				if strings.HasPrefix(v, p) {
					return true
				}
			}
		}
		return false
	}
	return anyPrefix(cond.GetTagPrefixes(), c.tags...) &&
		anyPrefix(cond.GetVersionNamePrefixes(), c.version) &&
		anyPrefix(cond.GetPackageNamePrefixes(), c.pkg)
}
