package stage

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// DriftItem is one setting in which the live template and the declared
// overrides differ.
type DriftItem struct {
	// Field names the setting: "env.NAME" (a plain or secret environment
	// variable), "serviceAccount", "cpu", "memory", "minInstances",
	// "maxInstances", "concurrency", "label.KEY", or "image" (see
	// [TemplateImageDrift]).
	Field string
	// Live is the live template's value, "" when it does not have the
	// setting. A secret variable reads "secret:NAME:VERSION"; a variable set
	// to the empty string reads `""`.
	Live string
	// Declared is the declared value in the same form, "" when the
	// overrides do not set it (or, for "env.NAME", remove it).
	Declared string
}

// String returns "FIELD: live X, declared Y", with "(unset)" for a missing
// side.
func (i DriftItem) String() string {
	return fmt.Sprintf("%s: live %s, declared %s", i.Field, orUnset(i.Live), orUnset(i.Declared))
}

func orUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

// Drift lists how a live template differs from the declared overrides,
// sorted by Field. It is empty when they agree.
type Drift []DriftItem

// String returns one [DriftItem.String] per line, or "no drift".
func (d Drift) String() string {
	if len(d) == 0 {
		return "no drift"
	}
	lines := make([]string, len(d))
	for i, it := range d {
		lines[i] = it.String()
	}
	return strings.Join(lines, "\n")
}

// CompareLive returns the drift between the declared overrides and live,
// the settings a service's live template has, as Overrides with every
// field set that the template sets (backends build it from their
// template). The plain values of variables whose names suggest a
// credential (PASSWORD, SECRET, TOKEN, KEY, …) read "(hidden)". It reports:
//
//   - each environment variable, plain or secret, whose live value differs
//     from the declared one, that is declared but not live, that is live but
//     neither declared nor removed, or that is removed but still live;
//   - each label that differs either way, except the keys the backends set
//     themselves ([LabelManagedBy], [LabelCommit], [LabelRef],
//     [LabelConfig]);
//   - each scalar (service account, CPU, memory, min and max instances,
//     concurrency) that is declared and differs from the live value. An
//     undeclared scalar is not drift: the overrides keep it as it is.
func CompareLive(declared, live Overrides) Drift {
	var d Drift
	envKeys := make(map[string]bool)
	for _, m := range []map[string]string{declared.Env, live.Env} {
		for k := range m {
			envKeys[k] = true
		}
	}
	for _, m := range []map[string]SecretRef{declared.Secrets, live.Secrets} {
		for k := range m {
			envKeys[k] = true
		}
	}
	for _, k := range declared.RemoveEnv {
		envKeys[k] = true
	}
	for k := range envKeys {
		lv, dv := envValue(live, k), envValue(declared, k)
		if lv != dv {
			if sensitiveName(k) {
				lv, dv = hidden(lv), hidden(dv)
			}
			d = append(d, DriftItem{Field: "env." + k, Live: lv, Declared: dv})
		}
	}
	labelKeys := make(map[string]bool)
	for _, m := range []map[string]string{declared.Labels, live.Labels} {
		for k := range m {
			if !ownLabel(k) {
				labelKeys[k] = true
			}
		}
	}
	for k := range labelKeys {
		lv, dv := present(live.Labels, k), present(declared.Labels, k)
		if lv != dv {
			d = append(d, DriftItem{Field: "label." + k, Live: lv, Declared: dv})
		}
	}
	scalar := func(field, lv, dv string) {
		if dv != "" && lv != dv {
			d = append(d, DriftItem{Field: field, Live: lv, Declared: dv})
		}
	}
	scalar("serviceAccount", live.ServiceAccount, declared.ServiceAccount)
	scalar("cpu", live.CPU, declared.CPU)
	scalar("memory", live.Memory, declared.Memory)
	scalar("minInstances", optInt(live.MinInstances), optInt(declared.MinInstances))
	scalar("maxInstances", optInt(live.MaxInstances), optInt(declared.MaxInstances))
	scalar("concurrency", optInt(live.Concurrency), optInt(declared.Concurrency))
	scalar("port", optInt(live.Port), optInt(declared.Port))
	scalar("timeout", optDuration(live.Timeout), optDuration(declared.Timeout))
	scalar("vpcConnector", live.VPCConnector, declared.VPCConnector)
	scalar("vpcEgress", live.VPCEgress, declared.VPCEgress)
	scalar("cloudSQLInstances", live.cloudSQL(), declared.cloudSQL())
	slices.SortFunc(d, func(a, b DriftItem) int { return strings.Compare(a.Field, b.Field) })
	return d
}

// sensitiveName reports whether an environment variable's name suggests a
// credential (PASSWORD, SECRET, TOKEN, KEY, CREDENTIAL, PRIVATE, AUTH), whose
// plain value a drift report must not print: status output and audit logs
// are read by many. Such values belong in Secret Manager references, which
// are shown as references.
func sensitiveName(name string) bool {
	n := strings.ToUpper(name)
	for _, w := range []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "PRIVATE", "AUTH"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// hidden replaces a plain value by "(hidden)", keeping "" (unset) and
// secret references, which name no value.
func hidden(v string) string {
	if v == "" || strings.HasPrefix(v, "secret:") {
		return v
	}
	return "(hidden)"
}

// envValue renders variable k of o for a DriftItem: "" when o does not set
// it (or removes it).
func envValue(o Overrides, k string) string {
	if slices.Contains(o.RemoveEnv, k) {
		return ""
	}
	if r, ok := o.Secrets[k]; ok {
		return "secret:" + r.String()
	}
	return present(o.Env, k)
}

// present renders m[k]: "" when absent, `""` when set to "".
func present(m map[string]string, k string) string {
	v, ok := m[k]
	if !ok {
		return ""
	}
	if v == "" {
		return `""`
	}
	return v
}

// TemplateImageDrift returns the "image" drift item of a service whose
// template (naming revision, running digest) runs an image that none of the
// revisions serving traffic runs (serving: their digests), unless the
// template's revision awaits promotion (released with no traffic, not
// rolled back). Such a template is a hazard: any template edit (a console
// change of an env var) or a LATEST target would serve that image, for
// example the image of a release that was rolled back. Live is the
// template's digest and revision; Declared lists the serving digests.
// ok is false when there is nothing to flag.
func TemplateImageDrift(revision, digest string, serving []string, awaitsPromotion bool) (DriftItem, bool) {
	if digest == "" || awaitsPromotion || slices.Contains(serving, digest) {
		return DriftItem{}, false
	}
	sorted := slices.Clone(serving)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	return DriftItem{
		Field:    "image",
		Live:     fmt.Sprintf("%s (revision %s, which serves no traffic)", digest, revision),
		Declared: "an image that serves: " + strings.Join(sorted, ", "),
	}, true
}

// optDuration formats an optional duration, "" when zero.
func optDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}
