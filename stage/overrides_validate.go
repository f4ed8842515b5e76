package stage

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twostage/twostage"
)

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
	// MaxTimeout is the longest request timeout Cloud Run allows
	// (https://cloud.google.com/run/docs/configuring/request-timeout: "up
	// to 60 minutes"; runpb states no maximum).
	MaxTimeout = time.Hour
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
//   - Port is 1 to 65535 (runpb ContainerPort); Timeout whole seconds from
//     1s to [MaxTimeout]; VPCConnector a full connector name; VPCEgress
//     [EgressAllTraffic] or [EgressPrivateRanges]; each Cloud SQL instance
//     a connection name "PROJECT:REGION:INSTANCE", listed once;
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
	if err := o.validateNetwork(); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(o.Labels)) {
		if err := validateLabel(k, o.Labels[k]); err != nil {
			return err
		}
	}
	return nil
}

// validateNetwork checks the port, timeout, VPC and Cloud SQL settings.
func (o Overrides) validateNetwork() error {
	if o.Port != nil && (*o.Port < 1 || *o.Port > 65535) {
		return invalidf("overrides: Port %d is not a TCP port; want 1 to 65535 (Cloud Run's default is 8080)", *o.Port)
	}
	if o.Timeout != 0 {
		if o.Timeout < time.Second || o.Timeout > MaxTimeout || o.Timeout%time.Second != 0 {
			return invalidf("overrides: Timeout %s: want whole seconds from 1s to %s, such as 300s", o.Timeout, MaxTimeout)
		}
	}
	if c := o.VPCConnector; c != "" {
		p := strings.Split(c, "/")
		if len(p) != 6 || p[0] != "projects" || !projectID(p[1]) || p[2] != "locations" || p[3] == "" || p[4] != "connectors" || !connectorID(p[5]) {
			return invalidf("overrides: VPCConnector %q: want \"projects/PROJECT/locations/REGION/connectors/NAME\" (the connector name is 1 to 25 lower-case letters, digits and '-', starting with a letter)", c)
		}
	}
	switch o.VPCEgress {
	case "", EgressAllTraffic, EgressPrivateRanges:
	default:
		return invalidf("overrides: VPCEgress %q: want %q or %q", o.VPCEgress, EgressAllTraffic, EgressPrivateRanges)
	}
	seen := make(map[string]bool, len(o.CloudSQLInstances))
	for _, in := range o.CloudSQLInstances {
		if !cloudSQLName(in) {
			return invalidf("overrides: Cloud SQL instance %q is not a connection name; want \"PROJECT:REGION:INSTANCE\" as the instance's overview page shows it", in)
		}
		if seen[in] {
			return invalidf("overrides: Cloud SQL instance %q is listed twice; list it once", in)
		}
		seen[in] = true
	}
	return nil
}

// connectorID reports whether s is a Serverless VPC Access connector ID: "a
// lowercase letter followed by up to 24 lowercase letters, digits or
// hyphens, not ending with a hyphen" (the gcloud compute networks
// vpc-access connectors create reference; unverified against the API).
func connectorID(s string) bool {
	if len(s) < 1 || len(s) > 25 || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	return lowerDigitsDash(s)
}

// cloudSQLName reports whether s is a Cloud SQL connection name,
// "PROJECT:REGION:INSTANCE" (a domain-scoped project, "example.com:proj",
// adds one more part): each part non-empty, the instance 1 to 98
// lower-case letters, digits and '-' starting with a letter (Cloud SQL's
// instance ID rule; unverified against the API).
func cloudSQLName(s string) bool {
	p := strings.Split(s, ":")
	if len(p) != 3 && len(p) != 4 {
		return false
	}
	region, inst := p[len(p)-2], p[len(p)-1]
	project := p[len(p)-3]
	return projectID(project) && region != "" && lowerDigitsDash(region) &&
		inst != "" && len(inst) <= 98 && inst[0] >= 'a' && inst[0] <= 'z' && lowerDigitsDash(inst)
}

// lowerDigitsDash reports whether s holds only lower-case letters, digits
// and '-'.
func lowerDigitsDash(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
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
	return lowerDigitsDash(s)
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

// validateLabel checks a label of the overrides: Cloud Run's label rules
// ([ValidateLabel]) and not a key the backends own.
func validateLabel(k, v string) error {
	if ownLabel(k) {
		return invalidf("overrides: label %q is set by the backend on every revision; choose another key", k)
	}
	if err := ValidateLabel(k, v); err != nil {
		return fmt.Errorf("stage: overrides: %w", err)
	}
	return nil
}
