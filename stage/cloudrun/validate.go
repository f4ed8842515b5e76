package cloudrun

import (
	"fmt"
	"maps"
	"slices"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// invalidf formats an error wrapping twostage.ErrInvalid.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("cloudrun: "+format+": %w", append(args, twostage.ErrInvalid)...)
}

// revisionName derives the short revision name of a release for service
// with [stage.RevisionName]. Empty stays empty (the backend generates a
// name).
func revisionName(service, rev string) (string, error) {
	if rev == "" {
		return "", nil
	}
	name, err := stage.RevisionName(service, rev)
	if err != nil {
		return "", fmt.Errorf("cloudrun: release revision %q: %w", rev, err)
	}
	return name, nil
}

// validateRelease checks r before any API call and returns the short
// revision name.
func validateRelease(service string, r stage.Release) (string, error) {
	if err := r.Artifact.Validate(); err != nil {
		return "", fmt.Errorf("cloudrun: release artifact %q: %w", r.Artifact.String(), err)
	}
	switch r.Traffic {
	case stage.RouteAll, stage.RouteNone:
	default:
		return "", invalidf("release traffic %q: want stage.RouteAll (%q) or stage.RouteNone (%q)", r.Traffic, stage.RouteAll, stage.RouteNone)
	}
	name, err := revisionName(service, r.Revision)
	if err != nil {
		return "", err
	}
	if name == "" && len(r.Tags) > 0 {
		return "", invalidf("release has tags %q but no revision name; set Release.Revision so the tags can name the revision", r.Tags)
	}
	seen := make(map[string]bool, len(r.Tags))
	for _, t := range r.Tags {
		if err := traffic.ValidateTag(service, t); err != nil {
			return "", fmt.Errorf("cloudrun: release %w", err)
		}
		if seen[t] {
			return "", invalidf("release tag %q is listed twice", t)
		}
		seen[t] = true
	}
	for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
		if err := stage.ValidateLabel(k, r.Labels[k]); err != nil {
			return "", fmt.Errorf("cloudrun: release %w", err)
		}
		if k == stage.LabelManagedBy && r.Labels[k] != ManagedByValue {
			return "", invalidf("release label %s=%q: this package sets %s=%s on every revision; drop the label or choose another key", k, r.Labels[k], k, ManagedByValue)
		}
	}
	return name, nil
}
