package stage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twostage/twostage"
)

// LabelConfig holds the [Overrides.Fingerprint] of the overrides a revision
// was deployed with, so that a revision read back from the backend still
// says which configuration it runs (the settings themselves are merged into
// the template and cannot be told apart from those set elsewhere). It is
// absent when the overrides were zero.
const LabelConfig = "twostage-config"

// Overrides are a stage's own settings, applied onto the service's current
// revision template when a release is deployed; everything they leave
// unset keeps its current value ("gcloud run deploy --image" semantics).
// The zero value overrides nothing. Each field names the Cloud Run revision
// template field it sets.
//
// Overrides are part of a revision's identity (see [Release.Overrides]):
// backends record their [Overrides.Fingerprint] on the revision.
type Overrides struct {
	// Env sets plain environment variables on the first container
	// (containers[0].env), replacing a variable of the same name, plain or
	// secret. Values are literal; put secrets in Secrets instead.
	Env map[string]string
	// RemoveEnv removes environment variables, plain or secret, from the
	// first container. A name must not also be in Env or Secrets.
	RemoveEnv []string
	// Secrets sets environment variables whose value Cloud Run reads from
	// Secret Manager when an instance starts (env[].value_source
	// .secret_key_ref), keyed by variable name. They are references, never
	// values.
	Secrets map[string]SecretRef
	// ServiceAccount is the email of the runtime service account
	// (template.service_account), such as
	// "api@my-project.iam.gserviceaccount.com". Empty keeps the current one.
	ServiceAccount string
	// CPU is the first container's CPU limit (resources.limits["cpu"]):
	// "1", "2", "4", "6", "8", or a fraction from "0.08" to "1" (also in
	// millicores, "500m"). Empty keeps the current one.
	CPU string
	// Memory is the first container's memory limit
	// (resources.limits["memory"]), such as "512Mi" or "2Gi". Empty keeps
	// the current one.
	Memory string
	// MinInstances is the minimum number of instances
	// (template.scaling.min_instance_count), ≥ 0. Nil keeps the current one.
	MinInstances *int32
	// MaxInstances is the maximum number of instances
	// (template.scaling.max_instance_count), ≥ 1 (0 means "the server
	// default, 100" in the API, so it is refused here). Nil keeps the
	// current one.
	MaxInstances *int32
	// Concurrency is the maximum number of concurrent requests per instance
	// (template.max_instance_request_concurrency), 1 to 1000. Nil keeps the
	// current one.
	Concurrency *int32
	// Labels are set on the revision (template.labels), in addition to the
	// labels already there. [Release.Labels] win over them on the same key.
	// The keys the backends own ([LabelManagedBy], [LabelCommit],
	// [LabelRef], [LabelConfig]) are refused.
	Labels map[string]string
}

// SecretRef names a Secret Manager secret version. It never holds the
// secret's value.
type SecretRef struct {
	// Secret is the secret's name, "NAME" for a secret in the service's
	// project or "projects/PROJECT/secrets/NAME" for one in another project
	// (runpb SecretKeySelector.secret).
	Secret string
	// Version is "latest", a version number such as "3", or a version alias
	// (runpb SecretKeySelector.version: "Can be 'latest' for the latest
	// version, an integer for a specific version, or a version alias").
	// Unlike the API, an empty version is refused: pin it, or say "latest".
	Version string
}

// String returns "SECRET:VERSION", the form of gcloud's --set-secrets.
func (r SecretRef) String() string { return r.Secret + ":" + r.Version }

// IsZero reports whether o overrides nothing (nil and empty maps alike).
func (o Overrides) IsZero() bool {
	return len(o.Env) == 0 && len(o.RemoveEnv) == 0 && len(o.Secrets) == 0 &&
		o.ServiceAccount == "" && o.CPU == "" && o.Memory == "" &&
		o.MinInstances == nil && o.MaxInstances == nil && o.Concurrency == nil &&
		len(o.Labels) == 0
}

// Equal reports whether o and p have the same [Overrides.Fingerprint]:
// the same settings, whatever the order of RemoveEnv and whether empty
// maps are nil.
func (o Overrides) Equal(p Overrides) bool { return o.canonical() == p.canonical() }

// Fingerprint returns a short, stable hash of o's settings: 16 lower-case
// hexadecimal characters (a valid label value), equal for equal settings
// whatever the map order, the order of RemoveEnv and whether empty maps are
// nil; "" for zero overrides, so that a revision deployed without overrides
// needs no [LabelConfig]. Values are compared as written: "1" and "1000m"
// CPU differ.
func (o Overrides) Fingerprint() string {
	if o.IsZero() {
		return ""
	}
	sum := sha256.Sum256([]byte(o.canonical()))
	return hex.EncodeToString(sum[:8])
}

// canonical is an unambiguous text form of o: each value is quoted.
func (o Overrides) canonical() string {
	if o.IsZero() {
		return ""
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(o.Env)) {
		fmt.Fprintf(&b, "env %q %q\n", k, o.Env[k])
	}
	rm := slices.Clone(o.RemoveEnv)
	slices.Sort(rm)
	for _, k := range slices.Compact(rm) {
		fmt.Fprintf(&b, "rm %q\n", k)
	}
	for _, k := range slices.Sorted(maps.Keys(o.Secrets)) {
		fmt.Fprintf(&b, "secret %q %q %q\n", k, o.Secrets[k].Secret, o.Secrets[k].Version)
	}
	fmt.Fprintf(&b, "sa %q\ncpu %q\nmemory %q\n", o.ServiceAccount, o.CPU, o.Memory)
	fmt.Fprintf(&b, "min %s\nmax %s\nconcurrency %s\n", optInt(o.MinInstances), optInt(o.MaxInstances), optInt(o.Concurrency))
	for _, k := range slices.Sorted(maps.Keys(o.Labels)) {
		fmt.Fprintf(&b, "label %q %q\n", k, o.Labels[k])
	}
	return b.String()
}

// optInt formats an optional number, "" when nil.
func optInt(p *int32) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(int(*p))
}

// Clone returns a deep copy of o.
func (o Overrides) Clone() Overrides {
	c := o
	c.Env = maps.Clone(o.Env)
	c.RemoveEnv = slices.Clone(o.RemoveEnv)
	c.Secrets = maps.Clone(o.Secrets)
	c.Labels = maps.Clone(o.Labels)
	c.MinInstances = clonePtr(o.MinInstances)
	c.MaxInstances = clonePtr(o.MaxInstances)
	c.Concurrency = clonePtr(o.Concurrency)
	return c
}

func clonePtr(p *int32) *int32 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// ApplyTo returns live with o applied, for backends that hold a template's
// settings as Overrides (every field set that the template sets): RemoveEnv
// removes variables, Env and Secrets set them (a plain variable replaces a
// secret one of the same name and the other way round), set scalars replace
// live ones, and Labels are merged in. live is not modified; the result's
// RemoveEnv is empty.
func (o Overrides) ApplyTo(live Overrides) Overrides {
	out := live.Clone()
	out.RemoveEnv = nil
	for _, k := range o.RemoveEnv {
		delete(out.Env, k)
		delete(out.Secrets, k)
	}
	for k, v := range o.Env {
		if out.Env == nil {
			out.Env = make(map[string]string)
		}
		out.Env[k] = v
		delete(out.Secrets, k)
	}
	for k, v := range o.Secrets {
		if out.Secrets == nil {
			out.Secrets = make(map[string]SecretRef)
		}
		out.Secrets[k] = v
		delete(out.Env, k)
	}
	if o.ServiceAccount != "" {
		out.ServiceAccount = o.ServiceAccount
	}
	if o.CPU != "" {
		out.CPU = o.CPU
	}
	if o.Memory != "" {
		out.Memory = o.Memory
	}
	if o.MinInstances != nil {
		out.MinInstances = clonePtr(o.MinInstances)
	}
	if o.MaxInstances != nil {
		out.MaxInstances = clonePtr(o.MaxInstances)
	}
	if o.Concurrency != nil {
		out.Concurrency = clonePtr(o.Concurrency)
	}
	for k, v := range o.Labels {
		if out.Labels == nil {
			out.Labels = make(map[string]string)
		}
		out.Labels[k] = v
	}
	return out
}

// ownLabel reports whether k is a label key the backends set themselves.
func ownLabel(k string) bool {
	return k == LabelManagedBy || k == LabelCommit || k == LabelRef || k == LabelConfig
}

// DriftItem is one setting in which the live template and the declared
// overrides differ.
type DriftItem struct {
	// Field names the setting: "env.NAME" (a plain or secret environment
	// variable), "serviceAccount", "cpu", "memory", "minInstances",
	// "maxInstances", "concurrency" or "label.KEY".
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

// Limits Overrides.Validate enforces.
const (
	// MaxEnvVars is the most environment variables a service may set
	// (https://cloud.google.com/run/docs/configuring/services/overview-environment-variables:
	// "You can set a maximum of 1000 environment variables").
	MaxEnvVars = 1000
	// maxEnvValueLen is runpb EnvVar.value's "the maximum length is 32768
	// bytes".
	maxEnvValueLen = 32768
	// MaxConcurrency is the largest Concurrency Cloud Run accepts
	// (https://cloud.google.com/run/docs/about-concurrency: "up to 1000";
	// unverified against the API, which states no maximum in runpb).
	MaxConcurrency = 1000
)

// reservedEnv are the variables Cloud Run sets in every container and that
// must not be set: "The environment variables defined in the container
// runtime contract are reserved and cannot be set"
// (https://cloud.google.com/run/docs/configuring/services/overview-environment-variables),
// and the contract
// (https://cloud.google.com/run/docs/container-contract#env-vars) lists
// PORT, K_SERVICE, K_REVISION and K_CONFIGURATION.
func reservedEnv(name string) bool {
	switch name {
	case "PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION":
		return true
	}
	return false
}

// Validate checks o before any API call. Errors wrap [twostage.ErrInvalid]
// and name the field, the bad value and the fix:
//
//   - variable names (Env, Secrets, RemoveEnv) are [A-Za-z_][A-Za-z0-9_]*
//     (stricter than runpb, which only limits the length; chosen so that
//     every shell and runtime can read them), not reserved by Cloud Run
//     (PORT, K_SERVICE, K_REVISION, K_CONFIGURATION), each in at most one
//     of Env, Secrets and RemoveEnv; at most [MaxEnvVars] set; values at
//     most 32768 bytes;
//   - secret references are "NAME" or "projects/PROJECT/secrets/NAME" with a
//     Secret Manager secret ID (1 to 255 of letters, digits, '_' and '-')
//     and a version "latest", a number ≥ 1 or an alias;
//   - the service account is an email address (lower-case);
//   - CPU, memory and their pair follow [ValidateResources]; a CPU below 1
//     needs Concurrency 1 when Concurrency is set;
//   - MinInstances ≥ 0, MaxInstances ≥ 1, min ≤ max when both are set;
//     Concurrency 1 to [MaxConcurrency];
//   - label keys and values follow the GCP label rules, and the backends'
//     own keys are refused.
func (o Overrides) Validate() error {
	setIn := make(map[string]string)
	for _, k := range slices.Sorted(maps.Keys(o.Env)) {
		if err := validateEnvName("Env", k); err != nil {
			return err
		}
		if len(o.Env[k]) > maxEnvValueLen {
			return invalidf("overrides: Env[%q] is %d bytes; Cloud Run allows at most %d", k, len(o.Env[k]), maxEnvValueLen)
		}
		setIn[k] = "Env"
	}
	for _, k := range slices.Sorted(maps.Keys(o.Secrets)) {
		if err := validateEnvName("Secrets", k); err != nil {
			return err
		}
		if where, ok := setIn[k]; ok {
			return invalidf("overrides: variable %q is in both %s and Secrets; keep it in one", k, where)
		}
		if err := o.Secrets[k].validate(k); err != nil {
			return err
		}
		setIn[k] = "Secrets"
	}
	if len(setIn) > MaxEnvVars {
		return invalidf("overrides: %d environment variables in Env and Secrets; Cloud Run allows at most %d", len(setIn), MaxEnvVars)
	}
	for _, k := range o.RemoveEnv {
		if err := validateEnvName("RemoveEnv", k); err != nil {
			return err
		}
		if where, ok := setIn[k]; ok {
			return invalidf("overrides: variable %q is both removed (RemoveEnv) and set (%s); keep one", k, where)
		}
	}
	if o.ServiceAccount != "" {
		if err := validateEmail(o.ServiceAccount); err != nil {
			return err
		}
	}
	cpu, err := parseCPU(o.CPU)
	if err != nil {
		return err
	}
	if _, err := parseMemory(o.Memory); err != nil {
		return err
	}
	if o.CPU != "" && o.Memory != "" {
		if err := ValidateResources(o.CPU, o.Memory); err != nil {
			return err
		}
	}
	if o.MinInstances != nil && *o.MinInstances < 0 {
		return invalidf("overrides: MinInstances %d is negative; use 0 to scale to zero", *o.MinInstances)
	}
	if o.MaxInstances != nil && *o.MaxInstances < 1 {
		return invalidf("overrides: MaxInstances %d must be at least 1 (leave it nil to keep the current value)", *o.MaxInstances)
	}
	if o.MinInstances != nil && o.MaxInstances != nil && *o.MinInstances > *o.MaxInstances {
		return invalidf("overrides: MinInstances %d is above MaxInstances %d; lower MinInstances or raise MaxInstances", *o.MinInstances, *o.MaxInstances)
	}
	if o.Concurrency != nil {
		c := *o.Concurrency
		if c < 1 || c > MaxConcurrency {
			return invalidf("overrides: Concurrency %d is not in 1..%d", c, MaxConcurrency)
		}
		if o.CPU != "" && cpu < 1000 && c != 1 {
			return invalidf("overrides: Concurrency %d with CPU %q: Cloud Run requires concurrency 1 below 1 CPU; set Concurrency to 1 or CPU to at least \"1\"", c, o.CPU)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o.Labels)) {
		if err := validateLabel(k, o.Labels[k]); err != nil {
			return err
		}
	}
	return nil
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("stage: "+format+": %w", append(args, twostage.ErrInvalid)...)
}

// validateEnvName checks a variable name of field.
func validateEnvName(field, k string) error {
	if k == "" {
		return invalidf("overrides: %s has an empty variable name", field)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9') {
			return invalidf("overrides: %s variable name %q: character %q at position %d is not allowed; use letters, digits and '_', not starting with a digit", field, k, c, i+1)
		}
	}
	if reservedEnv(k) {
		return invalidf("overrides: %s variable %q is set by Cloud Run in every container and cannot be set or removed; choose another name", field, k)
	}
	return nil
}

// validate checks a secret reference of variable k.
func (r SecretRef) validate(k string) error {
	id := r.Secret
	if strings.HasPrefix(id, "projects/") {
		parts := strings.Split(id, "/")
		if len(parts) != 4 || parts[2] != "secrets" || !projectID(parts[1]) {
			return invalidf("overrides: Secrets[%q].Secret %q: want \"NAME\" or \"projects/PROJECT/secrets/NAME\"", k, r.Secret)
		}
		id = parts[3]
	}
	if !secretID(id) {
		return invalidf("overrides: Secrets[%q].Secret %q: a secret name is 1 to 255 letters, digits, '_' and '-' (give the name, never the value)", k, r.Secret)
	}
	switch {
	case r.Version == "":
		return invalidf("overrides: Secrets[%q].Version is empty; use \"latest\" or a version number", k)
	case r.Version == "latest":
	case r.Version[0] >= '0' && r.Version[0] <= '9':
		if n, err := strconv.ParseUint(r.Version, 10, 63); err != nil || n == 0 || r.Version[0] == '0' {
			return invalidf("overrides: Secrets[%q].Version %q is not a version number ≥ 1; use \"latest\" or a number such as \"3\"", k, r.Version)
		}
	default:
		// A version alias. Secret Manager's alias rules are unverified;
		// accepted here: a letter, then letters, digits, '_' and '-', at most
		// 63 characters.
		if len(r.Version) > 63 || !secretID(r.Version) {
			return invalidf("overrides: Secrets[%q].Version %q: want \"latest\", a version number or an alias (letters, digits, '_' and '-')", k, r.Version)
		}
	}
	return nil
}

// secretID reports whether s is a Secret Manager secret ID: "[a-zA-Z_0-9-]
// ... 1 to 255 characters" (Secret Manager CreateSecretRequest.secret_id).
func secretID(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// projectID reports whether s is a project ID (6 to 30 lower-case letters,
// digits and '-', starting with a letter, not ending with '-') or a project
// number.
func projectID(s string) bool {
	if s != "" && isDigits(s) {
		return true
	}
	if len(s) < 6 || len(s) > 30 || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// validateEmail checks a service account email: LOCAL@DOMAIN, lower-case
// letters, digits, '-', '_' and '.', the domain with at least one dot
// ("NAME@PROJECT.iam.gserviceaccount.com",
// "NUMBER-compute@developer.gserviceaccount.com").
func validateEmail(s string) error {
	local, domain, ok := strings.Cut(s, "@")
	bad := !ok || local == "" || domain == "" || !strings.Contains(domain, ".") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..")
	for i := 0; i < len(s) && !bad; i++ {
		c := s[i]
		bad = !(c == '@' || c == '-' || c == '_' || c == '.' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9')
	}
	if bad {
		return invalidf("overrides: ServiceAccount %q is not a service account email; want NAME@PROJECT.iam.gserviceaccount.com", s)
	}
	return nil
}

// validateLabel checks a label of the overrides: the GCP label rules
// (https://cloud.google.com/resource-manager/docs/labels-overview: keys 1 to
// 63 characters of lower-case letters, digits, '_' and '-' starting with a
// letter; values at most 63 of the same; non-ASCII letters, which GCP also
// allows, are refused here) and not a key the backends own. Keys in Cloud
// Run's reserved namespaces ("run.googleapis.com/...") contain '.' and '/'
// and fail the character rule.
func validateLabel(k, v string) error {
	if ownLabel(k) {
		return invalidf("overrides: label %q is set by the backend on every revision; choose another key", k)
	}
	if k == "" || len(k) > 63 || k[0] < 'a' || k[0] > 'z' {
		return invalidf("overrides: label key %q must be 1 to 63 characters and start with a lower-case letter", k)
	}
	if c, ok := badLabelChar(k); ok {
		return invalidf("overrides: label key %q has %q; only lower-case letters, digits, '_' and '-' are allowed", k, c)
	}
	if len(v) > 63 {
		return invalidf("overrides: label %q value is %d characters; at most 63 are allowed", k, len(v))
	}
	if c, ok := badLabelChar(v); ok {
		return invalidf("overrides: label %q value %q has %q; only lower-case letters, digits, '_' and '-' are allowed", k, v, c)
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

// Cloud Run's defaults, used by [ValidateResources] for an unset value:
// "By default, each instance is limited to 1 vCPU"
// (https://cloud.google.com/run/docs/configuring/services/cpu) and "By
// default, the memory allocated to each instance of a revision is 512 MiB"
// (https://cloud.google.com/run/docs/configuring/services/memory-limits).
const (
	defaultCPUMilli = 1000
	defaultMemory   = 512 * mi
)

const (
	ki = int64(1) << 10
	mi = ki << 10
	gi = mi << 10
)

// ValidateResources checks a CPU and memory limit pair the way Cloud Run
// does; an empty value stands for Cloud Run's default (1 CPU, 512 MiB), so
// backends call it with the limits a revision would get after applying
// [Overrides] onto the live template. Errors wrap [twostage.ErrInvalid].
//
// CPU is "1", "2", "4", "6" or "8", or a fraction from 0.08 to 1 in steps of
// 0.001 ("0.5", "500m"). Memory is a number with a unit, M, G, Mi or Gi (k
// and Ki too), from 128 MiB to 32 GiB. The pair must be in this table, from
// https://cloud.google.com/run/docs/configuring/services/cpu ("vCPU and
// memory table") and its "less than 1 vCPU" rules, checked 2026-11-25:
//
//	CPU           memory
//	< 0.5         up to 512 MiB
//	0.5 to < 1    up to 1 GiB
//	1             up to 4 GiB
//	2             up to 8 GiB
//	4             2 GiB to 16 GiB
//	6             4 GiB to 24 GiB
//	8             4 GiB to 32 GiB
//
// Unverified against the API itself: runpb ResourceRequirements.limits says
// "The only supported values for CPU are '1', '2', '4', and '8'. Setting 4
// CPU requires at least 2Gi of memory", which predates 6 CPUs and fractions;
// the docs table is used. The second-generation execution environment's
// minimum of 512 MiB is not checked (the environment is not an override).
func ValidateResources(cpu, memory string) error {
	c, err := parseCPU(cpu)
	if err != nil {
		return err
	}
	m, err := parseMemory(memory)
	if err != nil {
		return err
	}
	if cpu == "" {
		c = defaultCPUMilli
	}
	if memory == "" {
		m = defaultMemory
	}
	lo, hi := int64(0), int64(0)
	switch {
	case c < 500:
		hi = 512 * mi
	case c < 1000:
		hi = gi
	case c == 1000:
		hi = 4 * gi
	case c == 2000:
		hi = 8 * gi
	case c == 4000:
		lo, hi = 2*gi, 16*gi
	case c == 6000:
		lo, hi = 4*gi, 24*gi
	case c == 8000:
		lo, hi = 4*gi, 32*gi
	}
	if m < lo || m > hi {
		return invalidf("overrides: memory %s with CPU %s: Cloud Run allows %s to %s with that CPU (see https://cloud.google.com/run/docs/configuring/services/cpu); change Memory or CPU",
			orDefault(memory, "512Mi"), orDefault(cpu, "1"), formatBytes(max(lo, 128*mi)), formatBytes(hi))
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def + " (default)"
	}
	return strconv.Quote(s)
}

func formatBytes(n int64) string {
	if n%gi == 0 {
		return strconv.FormatInt(n/gi, 10) + "Gi"
	}
	return strconv.FormatInt(n/mi, 10) + "Mi"
}

// parseCPU returns a CPU limit in millicores; 0 for "".
func parseCPU(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	bad := func() (int64, error) {
		return 0, invalidf("overrides: CPU %q: want \"1\", \"2\", \"4\", \"6\" or \"8\", or a fraction from \"0.08\" to \"1\" such as \"0.5\" or \"500m\"", s)
	}
	var milli int64
	if n, ok := strings.CutSuffix(s, "m"); ok {
		if !isDigits(n) || len(n) > 6 {
			return bad()
		}
		milli, _ = strconv.ParseInt(n, 10, 64)
	} else {
		whole, frac, _ := strings.Cut(s, ".")
		if !isDigits(whole) || len(whole) > 3 || strings.Contains(s, ".") && (!isDigits(frac) || len(frac) > 3) {
			return bad()
		}
		w, _ := strconv.ParseInt(whole, 10, 64)
		f := int64(0)
		if frac != "" {
			f, _ = strconv.ParseInt(frac+strings.Repeat("0", 3-len(frac)), 10, 64)
		}
		milli = w*1000 + f
	}
	switch {
	case milli >= 80 && milli <= 1000:
	case milli == 2000, milli == 4000, milli == 6000, milli == 8000:
	default:
		return bad()
	}
	return milli, nil
}

// parseMemory returns a memory limit in bytes; 0 for "". Units follow
// https://cloud.google.com/run/docs/configuring/services/memory-limits
// ("a fixed or floating point number followed by a unit: G or M for
// gigabytes or megabytes, or Gi or Mi for gibibytes or mebibytes"), with k
// and Ki as well; at most three decimals.
func parseMemory(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	bad := func(why string) (int64, error) {
		return 0, invalidf("overrides: Memory %q: %s; want a size such as \"512Mi\" or \"2Gi\" from 128Mi to 32Gi", s, why)
	}
	units := []struct {
		suffix string
		mult   int64
	}{{"Ki", ki}, {"Mi", mi}, {"Gi", gi}, {"k", 1000}, {"M", 1000 * 1000}, {"G", 1000 * 1000 * 1000}}
	num, mult := "", int64(0)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	if mult == 0 {
		return bad("no unit")
	}
	whole, frac, dot := strings.Cut(num, ".")
	if !isDigits(whole) || len(whole) > 9 || dot && (!isDigits(frac) || len(frac) > 3) {
		return bad("not a number")
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 3-len(frac)), 10, 64)
	}
	n := w*mult + f*mult/1000
	if n < 128*mi || n > 32*gi {
		return bad("out of range")
	}
	return n, nil
}

// ValidateEffective checks the settings a revision would run with, live
// after [Overrides.ApplyTo], for the rules that span a declared and a live
// value: the CPU and memory pair ([ValidateResources], with Cloud Run's
// defaults for unset values), min ≤ max instances, and concurrency 1 below
// 1 CPU. Backends call it before writing; it does not re-check what
// [Overrides.Validate] checks, since live settings made elsewhere may not
// follow this package's stricter rules. Errors wrap [twostage.ErrInvalid]
// and say which value is live.
func ValidateEffective(declared, effective Overrides) error {
	if err := ValidateResources(effective.CPU, effective.Memory); err != nil {
		return fmt.Errorf("stage: the CPU/memory pair after applying the overrides (CPU %s, memory %s) is refused: %w",
			origin(declared.CPU != ""), origin(declared.Memory != ""), err)
	}
	if effective.MinInstances != nil && effective.MaxInstances != nil && *effective.MaxInstances > 0 && *effective.MinInstances > *effective.MaxInstances {
		return invalidf("overrides: MinInstances %d (%s) is above MaxInstances %d (%s)", *effective.MinInstances, origin(declared.MinInstances != nil), *effective.MaxInstances, origin(declared.MaxInstances != nil))
	}
	if effective.Concurrency != nil && *effective.Concurrency > 1 {
		if c, err := parseCPU(effective.CPU); err == nil && effective.CPU != "" && c < 1000 {
			return invalidf("overrides: Concurrency %d (%s) with CPU %q (%s): Cloud Run requires concurrency 1 below 1 CPU", *effective.Concurrency, origin(declared.Concurrency != nil), effective.CPU, origin(declared.CPU != ""))
		}
	}
	return nil
}

func origin(declared bool) string {
	if declared {
		return "declared"
	}
	return "live"
}
