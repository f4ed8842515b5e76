package stage

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twostage/twostage"
)

// This file is the one home of Cloud Run's label rules, shared by
// stage/cloudrun and package fake. The Cloud Run emulator
// (fake/cloudrunfake) keeps its own, deliberately independent copy as the
// oracle the conformance suites hold these against.

// ReservedLabelNamespaces returns the label and annotation namespaces Cloud
// Run API v2 rejects: runpb RevisionTemplate.labels, "Cloud Run API v2 does
// not support labels with `run.googleapis.com`, `cloud.googleapis.com`,
// `serving.knative.dev`, or `autoscaling.knative.dev` namespaces, and they
// will be rejected." (Service.labels and .annotations say the same.)
func ReservedLabelNamespaces() []string {
	return []string{"run.googleapis.com", "cloud.googleapis.com", "serving.knative.dev", "autoscaling.knative.dev"}
}

// ReservedNamespace returns the reserved namespace key is in ("" if none):
// its prefix before a '/' is one of [ReservedLabelNamespaces] or a
// sub-domain of one ("x.run.googleapis.com/y").
func ReservedNamespace(key string) string {
	prefix, _, _ := strings.Cut(key, "/")
	for _, ns := range ReservedLabelNamespaces() {
		if prefix == ns || strings.HasSuffix(prefix, "."+ns) {
			return ns
		}
	}
	return ""
}

// MaxLabels is Google Cloud's limit on labels per resource (resource
// manager "Requirements for labels"; unverified for revisions).
const MaxLabels = 64

// ValidateLabel reports whether k=v is a label Cloud Run accepts: keys are
// 1 to 63 characters of lower-case letters, digits, '_' and '-', starting
// with a lower-case letter; values are at most 63 of the same characters
// (https://cloud.google.com/resource-manager/docs/labels-overview;
// non-ASCII letters, which Google Cloud also allows, are refused here).
// A key in a reserved namespace ([ReservedNamespace]) is refused with a
// message saying so. The error's message starts with "label", so callers
// can say whose label it is ("release label …"); it wraps
// [twostage.ErrInvalid].
func ValidateLabel(k, v string) error {
	if k == "" || len(k) > 63 || k[0] < 'a' || k[0] > 'z' {
		return fmt.Errorf("label key %q must be 1 to 63 characters and start with a lower-case letter: %w", k, twostage.ErrInvalid)
	}
	if c, bad := badLabelChar(k); bad {
		if ns := ReservedNamespace(k); ns != "" {
			return fmt.Errorf("label %q is in the reserved namespace %s, which Cloud Run reserves and rejects (label key %q has %q); use a key of your own such as %q: %w", k, ns, k, c, "team", twostage.ErrInvalid)
		}
		return fmt.Errorf("label key %q has %q; only lower-case letters, digits, '_' and '-' are allowed: %w", k, c, twostage.ErrInvalid)
	}
	if len(v) > 63 {
		return fmt.Errorf("label %q value %q is %d characters; at most 63 are allowed: %w", k, v, len(v), twostage.ErrInvalid)
	}
	if c, bad := badLabelChar(v); bad {
		return fmt.Errorf("label %q value %q has %q; only lower-case letters, digits, '_' and '-' are allowed: %w", k, v, c, twostage.ErrInvalid)
	}
	return nil
}

// ValidateLabels checks every label with [ValidateLabel], in key order, and
// their number against [MaxLabels]. Errors wrap [twostage.ErrInvalid].
func ValidateLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return fmt.Errorf("has %d labels; at most %d are allowed: %w", len(labels), MaxLabels, twostage.ErrInvalid)
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if err := ValidateLabel(k, labels[k]); err != nil {
			return err
		}
	}
	return nil
}

func badLabelChar(s string) (rune, bool) {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_' || r == '-') {
			return r, true
		}
	}
	return 0, false
}

// RevisionLabels returns the labels of the revision a deploy of r creates
// from a revision template carrying template: the template's labels, which
// carry over (set by people or other tools), without the previous
// release's [LabelCommit], [LabelRef] and [LabelConfig] (they must not
// stick to a release that does not set them), then r.Overrides.Labels,
// then r.Labels, then [LabelConfig] with r.Overrides' fingerprint when the
// overrides are not zero. A backend adds its own labels (such as
// [LabelManagedBy]) after. template is not modified; the result is nil
// only when template is nil and nothing is added.
func RevisionLabels(template map[string]string, r Release) map[string]string {
	out := maps.Clone(template)
	delete(out, LabelCommit)
	delete(out, LabelRef)
	delete(out, LabelConfig)
	fp := r.Overrides.Fingerprint()
	if out == nil && (len(r.Overrides.Labels) > 0 || len(r.Labels) > 0 || fp != "") {
		out = make(map[string]string, len(r.Overrides.Labels)+len(r.Labels)+1)
	}
	maps.Copy(out, r.Overrides.Labels)
	maps.Copy(out, r.Labels)
	if fp != "" {
		out[LabelConfig] = fp
	}
	return out
}
