package stage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
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
	// Port is the port the first container listens on
	// (containers[0].ports[0].container_port; runpb ContainerPort: "0 <
	// container_port < 65536"); Cloud Run sends requests there and sets
	// PORT to it. Nil keeps the current one (Cloud Run's default is 8080).
	Port *int32
	// Timeout is the request timeout (template.timeout: "Max allowed time
	// for an instance to respond to a request"), 1s to [MaxTimeout], whole
	// seconds. Zero keeps the current one (Cloud Run's default is 5m).
	Timeout time.Duration
	// VPCConnector is the Serverless VPC Access connector the revision
	// sends traffic through (template.vpc_access.connector),
	// "projects/PROJECT/locations/REGION/connectors/NAME". Empty keeps the
	// current one.
	VPCConnector string
	// VPCEgress says which traffic goes through the VPC
	// (template.vpc_access.egress): [EgressAllTraffic] or
	// [EgressPrivateRanges], gcloud's --vpc-egress values. Empty keeps the
	// current one (the API's default is private ranges only).
	VPCEgress string
	// CloudSQLInstances are the Cloud SQL instances the revision connects
	// to, as connection names "PROJECT:REGION:INSTANCE", each reachable
	// under /cloudsql/NAME: a template volume of type cloud_sql_instance
	// mounted at /cloudsql on the first container (runpb CloudSqlInstance:
	// "Each one will be available under /cloudsql/[instance]"). Set, the
	// list replaces the current one, as gcloud's --set-cloudsql-instances;
	// nil or empty keeps the current one.
	CloudSQLInstances []string
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

// Values of [Overrides.VPCEgress], as gcloud run deploy's --vpc-egress.
const (
	// EgressAllTraffic sends all outbound traffic through the VPC
	// (VpcAccess ALL_TRAFFIC).
	EgressAllTraffic = "all-traffic"
	// EgressPrivateRanges sends only traffic to private IP ranges through
	// the VPC (VpcAccess PRIVATE_RANGES_ONLY), the API's default.
	EgressPrivateRanges = "private-ranges-only"
)

// IsZero reports whether o overrides nothing (nil and empty maps alike).
func (o Overrides) IsZero() bool {
	return len(o.Env) == 0 && len(o.RemoveEnv) == 0 && len(o.Secrets) == 0 &&
		o.ServiceAccount == "" && o.CPU == "" && o.Memory == "" &&
		o.MinInstances == nil && o.MaxInstances == nil && o.Concurrency == nil &&
		o.Port == nil && o.Timeout == 0 && o.VPCConnector == "" && o.VPCEgress == "" &&
		len(o.CloudSQLInstances) == 0 && len(o.Labels) == 0
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
	// Settings added later are written only when set, so that the
	// fingerprints of revisions deployed before keep their value.
	if o.Port != nil {
		fmt.Fprintf(&b, "port %d\n", *o.Port)
	}
	if o.Timeout != 0 {
		fmt.Fprintf(&b, "timeout %q\n", o.Timeout)
	}
	if o.VPCConnector != "" {
		fmt.Fprintf(&b, "vpc-connector %q\n", o.VPCConnector)
	}
	if o.VPCEgress != "" {
		fmt.Fprintf(&b, "vpc-egress %q\n", o.VPCEgress)
	}
	if len(o.CloudSQLInstances) > 0 {
		fmt.Fprintf(&b, "cloudsql %q\n", o.cloudSQL())
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
	c.Port = clonePtr(o.Port)
	c.CloudSQLInstances = slices.Clone(o.CloudSQLInstances)
	return c
}

// cloudSQL returns the Cloud SQL connection names, sorted, without
// repetitions, joined by commas (the order of the instances has no
// meaning).
func (o Overrides) cloudSQL() string {
	s := slices.Clone(o.CloudSQLInstances)
	slices.Sort(s)
	return strings.Join(slices.Compact(s), ",")
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
	if o.Port != nil {
		out.Port = clonePtr(o.Port)
	}
	if o.Timeout != 0 {
		out.Timeout = o.Timeout
	}
	if o.VPCConnector != "" {
		out.VPCConnector = o.VPCConnector
	}
	if o.VPCEgress != "" {
		out.VPCEgress = o.VPCEgress
	}
	if len(o.CloudSQLInstances) > 0 {
		out.CloudSQLInstances = slices.Clone(o.CloudSQLInstances)
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
