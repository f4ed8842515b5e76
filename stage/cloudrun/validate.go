package cloudrun

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twostage/twostage/internal/names"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// reservedNamespaces are the label and annotation namespaces Cloud Run API
// v2 rejects (runpb Service.labels: "Cloud Run API v2 does not support
// labels with `run.googleapis.com`, `cloud.googleapis.com`,
// `serving.knative.dev`, or `autoscaling.knative.dev` namespaces, and they
// will be rejected").
func reservedNamespaces() []string {
	return []string{"run.googleapis.com", "cloud.googleapis.com", "serving.knative.dev", "autoscaling.knative.dev"}
}

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
		if !names.DNSLabel(t) {
			return "", invalidf("release tag %q is not a DNS label (lower-case letters, digits and '-', starting with a letter, not ending with '-')", t)
		}
		if len(t)+len(service) > traffic.MaxTagServiceLen {
			return "", invalidf("release tag %q and service name %q together are %d characters; Cloud Run allows %d, shorten the tag to at most %d", t, service, len(t)+len(service), traffic.MaxTagServiceLen, max(0, traffic.MaxTagServiceLen-len(service)))
		}
		if seen[t] {
			return "", invalidf("release tag %q is listed twice", t)
		}
		seen[t] = true
	}
	for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
		if err := ValidateLabel(k, r.Labels[k]); err != nil {
			return "", err
		}
		if k == stage.LabelManagedBy && r.Labels[k] != ManagedByValue {
			return "", invalidf("release label %s=%q: this package sets %s=%s on every revision; drop the label or choose another key", k, r.Labels[k], k, ManagedByValue)
		}
	}
	return name, nil
}

// ValidateLabel reports whether k=v is a label Cloud Run accepts: keys are 1
// to 63 characters of lower-case letters, digits, '_' and '-', starting with
// a lower-case letter; values are at most 63 of the same characters
// (https://cloud.google.com/resource-manager/docs/labels-overview; non-ASCII
// letters, which GCP also allows, are refused here). Keys in the namespaces
// Cloud Run reserves are refused with a message saying so. Errors wrap
// [twostage.ErrInvalid].
func ValidateLabel(k, v string) error {
	for _, ns := range reservedNamespaces() {
		if strings.Contains(k, ns) {
			return invalidf("label %q is in the namespace %q, which Cloud Run reserves; use an unprefixed key such as %q", k, ns, "team")
		}
	}
	if k == "" || len(k) > 63 || k[0] < 'a' || k[0] > 'z' {
		return invalidf("label key %q must be 1 to 63 characters and start with a lower-case letter", k)
	}
	if r, bad := firstBad(k); bad {
		return invalidf("label key %q has %q; only lower-case letters, digits, '_' and '-' are allowed", k, r)
	}
	if len(v) > 63 {
		return invalidf("label %q value %q is %d characters; at most 63 are allowed", k, v, len(v))
	}
	if r, bad := firstBad(v); bad {
		return invalidf("label %q value %q has %q; only lower-case letters, digits, '_' and '-' are allowed", k, v, r)
	}
	return nil
}

// firstBad returns the first rune of s not allowed in a label.
func firstBad(s string) (rune, bool) {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_' || r == '-') {
			return r, true
		}
	}
	return 0, false
}
