package fake

import (
	"fmt"
	"strings"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// The checks a [Service] makes before a deploy, with the rules it shares
// with stage/cloudrun (packages stage and traffic are their one home).

// validateRelease checks r as Cloud Run would check the revision template
// and traffic it becomes. Errors wrap twostage.ErrInvalid.
func (s *Service) validateRelease(r stage.Release) error {
	if err := r.Artifact.Validate(); err != nil {
		return fmt.Errorf("release artifact: %w", err)
	}
	if r.Traffic != stage.RouteAll && r.Traffic != stage.RouteNone {
		return fmt.Errorf("release traffic %q: want stage.RouteAll or stage.RouteNone: %w", r.Traffic, twostage.ErrInvalid)
	}
	seen := make(map[string]bool, len(r.Tags))
	for _, t := range r.Tags {
		if err := traffic.ValidateTag(s.name, t); err != nil {
			return fmt.Errorf("release %w", err)
		}
		switch {
		case seen[t]:
			return fmt.Errorf("release tag %q is listed twice: %w", t, twostage.ErrInvalid)
		}
		seen[t] = true
	}
	return validateLabels(r.Labels)
}

// validateLabels checks labels by Cloud Run's label rules
// ([stage.ValidateLabels]). Errors wrap twostage.ErrInvalid and name the
// key.
func validateLabels(labels map[string]string) error {
	if err := stage.ValidateLabels(labels); err != nil {
		return fmt.Errorf("release %w", err)
	}
	return nil
}

// revisionName returns the full revision name for rev, a full name
// "<service>-<suffix>" or only the suffix, as documented on
// stage.Release.Revision, derived by [stage.RevisionName] as stage/cloudrun
// derives it (shortened when too long); "" stays "". A rev that no valid
// name derives from is joined as it is, for Deploy to refuse.
func revisionName(service, rev string) string {
	if rev == "" {
		return ""
	}
	if name, err := stage.RevisionName(service, rev); err == nil {
		return name
	}
	if strings.HasPrefix(rev, service+"-") {
		return rev
	}
	return service + "-" + rev
}

// tagURL returns the URL of tag on the service at base: Cloud Run's
// "https://TAG---SERVICE-HASH-REGION.a.run.app" (unverified).
func tagURL(base, tag string) string {
	scheme, host, ok := strings.Cut(base, "://")
	if !ok {
		scheme, host = "https", base
	}
	return scheme + "://" + tag + "---" + host
}
