package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// FileName is the configuration's conventional name at the repository root.
const FileName = "twostage.yaml"

// MaxSize bounds the configuration file, so a mistaken path to a large file
// fails fast.
const MaxSize = 1 << 20

// Config is twostage.yaml. Keys are kebab-case; every field's comment gives
// its default.
type Config struct {
	// Project is the Google Cloud project ID (required).
	Project string `yaml:"project"`
	// ProjectNumber is the project's number; needed by `wif`.
	ProjectNumber string `yaml:"project-number"`
	// Region is the Cloud Run region of both services (required).
	Region string `yaml:"region"`
	// Registry is where images go.
	Registry Registry `yaml:"registry"`
	// Services names the two Cloud Run services.
	Services Services `yaml:"services"`
	// Branch is the only branch that deploys to dev. Default "main".
	Branch string `yaml:"branch"`
	// Release holds the rules for release tags.
	Release Release `yaml:"release"`
	// Rollout is the progressive rollout in prod.
	Rollout Rollout `yaml:"rollout"`
	// WIF is the keyless identity GitHub Actions deploys with.
	WIF WIF `yaml:"wif"`
	// Audit configures the append-only audit log.
	Audit Audit `yaml:"audit"`
	// Settings are each stage's Cloud Run service settings, applied on top
	// of the service's current template at every deploy (what they leave
	// out keeps its value, as with `gcloud run deploy --image`). Default:
	// none, only the image changes.
	Settings Settings `yaml:"settings"`

	// lines maps a dotted key path ("rollout.steps[1].percent") to its
	// position, for messages about values that parsed but break a rule.
	lines map[string]pos
	file  string
}

// Settings are the dev and prod stages' service settings.
type Settings struct {
	Dev  StageSettings `yaml:"dev"`
	Prod StageSettings `yaml:"prod"`
}

// StageSettings are one stage's Cloud Run settings, mapped onto
// stage.Overrides, with the names of `gcloud run deploy`'s flags.
type StageSettings struct {
	// Env are plain environment variables (values are literal; put secrets
	// in Secrets).
	Env map[string]string `yaml:"env"`
	// Secrets are environment variables read from Secret Manager when an
	// instance starts, by variable name: {secret: NAME, version: latest}.
	Secrets map[string]Secret `yaml:"secrets"`
	// ServiceAccount is the runtime service account's email. Default: the
	// service's current one.
	ServiceAccount string `yaml:"service-account"`
	// CPU ("1", "2", "0.5", "500m") and Memory ("512Mi", "2Gi") limits.
	CPU    string `yaml:"cpu"`
	Memory string `yaml:"memory"`
	// Concurrency is the maximum of concurrent requests per instance.
	Concurrency *int32 `yaml:"concurrency"`
	// MinInstances and MaxInstances bound the instance count.
	MinInstances *int32 `yaml:"min-instances"`
	MaxInstances *int32 `yaml:"max-instances"`
	// Labels are added to the stage's revisions.
	Labels map[string]string `yaml:"labels"`
	// Port is the container port requests go to (1 to 65535). Default:
	// the service's current one (Cloud Run's default is 8080).
	Port *int32 `yaml:"port"`
	// Timeout is the request timeout, whole seconds from 1s to 60m.
	// Default: the service's current one (Cloud Run's default is 5m).
	Timeout Duration `yaml:"timeout"`
	// VPCConnector is the Serverless VPC Access connector,
	// "projects/PROJECT/locations/REGION/connectors/NAME". Default: the
	// service's current one.
	VPCConnector string `yaml:"vpc-connector"`
	// VPCEgress is "all-traffic" or "private-ranges-only" (needs a
	// connector). Default: private-ranges-only when a connector is set.
	VPCEgress string `yaml:"vpc-egress"`
	// CloudSQLInstances are Cloud SQL connection names
	// ("PROJECT:REGION:INSTANCE"), each mounted under /cloudsql; the list
	// replaces the current one. Default: the service's current ones.
	CloudSQLInstances []string `yaml:"cloudsql-instances"`
}

// Secret is a Secret Manager secret version reference; never a value.
type Secret struct {
	// Secret is "NAME" or "projects/PROJECT/secrets/NAME".
	Secret string `yaml:"secret"`
	// Version is "latest" (the default) or a version number.
	Version string `yaml:"version"`
}

// Overrides maps the settings onto stage.Overrides.
func (s StageSettings) Overrides() stage.Overrides {
	o := stage.Overrides{
		Env: s.Env, ServiceAccount: s.ServiceAccount, CPU: s.CPU, Memory: s.Memory,
		Concurrency: s.Concurrency, MinInstances: s.MinInstances, MaxInstances: s.MaxInstances, Labels: s.Labels,
		Port: s.Port, Timeout: s.Timeout.D(), VPCConnector: s.VPCConnector, VPCEgress: s.VPCEgress,
		CloudSQLInstances: s.CloudSQLInstances,
	}
	for name, ref := range s.Secrets {
		if o.Secrets == nil {
			o.Secrets = map[string]stage.SecretRef{}
		}
		v := ref.Version
		if v == "" {
			v = "latest"
		}
		o.Secrets[name] = stage.SecretRef{Secret: ref.Secret, Version: v}
	}
	return o.Clone()
}

// Registry is the Artifact Registry repository and image.
type Registry struct {
	// Location is the repository's location. Default: Region.
	Location string `yaml:"location"`
	// Repository is the repository ID (required), for example "apps".
	Repository string `yaml:"repository"`
	// Image is the image name inside the repository (required), for
	// example "api".
	Image string `yaml:"image"`
}

// Services are the dev and prod Cloud Run services.
type Services struct {
	// Dev is the dev service name (required).
	Dev string `yaml:"dev"`
	// Prod is the prod service name (required).
	Prod string `yaml:"prod"`
	// ProdRegions are extra regions the prod service also runs in, besides
	// Region. A release deploys the candidate in every region; promote
	// rolls it out region by region (Region first) and, when a region
	// rolls back, rolls back the regions already promoted. Default none.
	ProdRegions []string `yaml:"prod-regions"`
	// RuntimeServiceAccount is the services' runtime identity (email);
	// needed by `wif` and checked by `doctor`.
	RuntimeServiceAccount string `yaml:"runtime-service-account"`
}

// Release holds the prod policies on tags.
type Release struct {
	// TagPattern is the regular expression release tags match. Default:
	// semver with a "v" prefix (pipeline.SemverTag).
	TagPattern string `yaml:"tag-pattern"`
	// SignedTags requires `git verify-tag` to accept the tag. Default false.
	SignedTags bool `yaml:"signed-tags"`
	// AllowedSigners is the SSH allowed-signers file (relative to the
	// repository) used when signatures are SSH. Default: git's own
	// gpg.ssh.allowedSignersFile setting.
	AllowedSigners string `yaml:"allowed-signers"`
	// AwaitTimeout bounds the wait for the commit's image. Default 30m.
	AwaitTimeout Duration `yaml:"await-timeout"`
	// Smoke, if set, checks the candidate's preview URL before any traffic.
	Smoke *Smoke `yaml:"smoke"`
}

// Smoke is a pre-traffic HTTP check (pipeline.HTTPCheck).
type Smoke struct {
	// Path is requested on the preview URL. Default "/".
	Path string `yaml:"path"`
	// Status is the expected status code. Default 200.
	Status int `yaml:"status"`
	// Contains, if set, must appear in the body.
	Contains string `yaml:"contains"`
}

// Rollout is the prod rollout plan and its gates.
type Rollout struct {
	// Steps is the plan. Default 5% (bake 5m) → 25% (bake 5m) → 100%.
	Steps []Step `yaml:"steps"`
	// GateInterval is how often inconclusive gates are asked again.
	// Default 30s.
	GateInterval Duration `yaml:"gate-interval"`
	// Gates judge every step. Default none: a step passes when baked.
	Gates []Gate `yaml:"gates"`
	// Metrics is where gates read request and error counts.
	Metrics Metrics `yaml:"metrics"`
}

// Step is one rollout step.
type Step struct {
	// Percent is the candidate's share, 1..100 (required).
	Percent int `yaml:"percent"`
	// Bake is how long the step runs before gates may pass it. Default 0.
	Bake Duration `yaml:"bake"`
	// MaxWait bounds how long the step may stay inconclusive after its
	// bake. Default 0: no bound.
	MaxWait Duration `yaml:"max-wait"`
}

// Gate kinds.
const (
	GateThreshold  = "threshold"
	GateSequential = "sequential"
)

// Gate is one gate of traffic/analysis.
type Gate struct {
	// Type is "threshold" (hard error-rate SLO) or "sequential" (anytime-
	// valid comparison with the stable revision) (required).
	Type string `yaml:"type"`
	// MaxErrorRate is the threshold gate's limit, in [0, 1). Default 0.01.
	MaxErrorRate *float64 `yaml:"max-error-rate"`
	// MinRequests is how many candidate requests a verdict needs.
	// Default 100.
	MinRequests *int64 `yaml:"min-requests"`
	// Interval is the threshold gate's evaluation window. Default 1m.
	Interval Duration `yaml:"interval"`
	// Alpha is the sequential gate's false-rollback budget. Default 0.01.
	Alpha *float64 `yaml:"alpha"`
	// MinDuration is how long the sequential gate observes before it may
	// pass. Default 5m.
	MinDuration Duration `yaml:"min-duration"`
}

// Metrics sources.
const (
	MetricsCloudMonitoring = "cloud-monitoring"
	MetricsFile            = "file"
)

// Metrics says where gates read their counts.
type Metrics struct {
	// Source is "cloud-monitoring" or "file". Default "cloud-monitoring"
	// when gates are configured.
	Source string `yaml:"source"`
	// File is the scripted traffic file (Source "file"), relative to the
	// configuration file; see the README's "local play".
	File string `yaml:"file"`
}

// WIF is the keyless GitHub Actions identity.
type WIF struct {
	// Pool is the workload identity pool ID. Default "github".
	Pool string `yaml:"pool"`
	// Provider is the provider ID. Default "github-actions".
	Provider string `yaml:"provider"`
	// ServiceAccount, if set, is impersonated after the token exchange.
	// Default: none, the federated identity is granted roles directly.
	ServiceAccount string `yaml:"service-account"`
	// Repository is the GitHub repository "OWNER/NAME".
	Repository string `yaml:"repository"`
	// RepositoryID and OwnerID are the numeric GitHub IDs bindings use.
	RepositoryID string `yaml:"repository-id"`
	OwnerID      string `yaml:"owner-id"`
	// PublicInvoker lets allUsers invoke both services. Default false.
	PublicInvoker bool `yaml:"public-invoker"`
	// ProdEnvironment is the GitHub Environment of the promote workflow's
	// decisions: only a workflow_dispatch or schedule run on the dev branch
	// in this environment (or in ENV-resume, the scheduled resume job) gets
	// the promote identity; a job in it on another branch or from another
	// event gets nothing. Protect it (deployment branches: the dev branch
	// only; required reviewers). Default: "production".
	ProdEnvironment string `yaml:"prod-environment"`
}

// Audit configures audit records besides the job summary.
type Audit struct {
	// Log is a JSON-lines file events are appended to. Default none.
	Log string `yaml:"log"`
}

// Duration is a time.Duration written as "5m", "30s" or "0s".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as \"5m\" or \"30s\"", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration; write for example \"5m\", \"90s\" or \"0s\"", n.Line, n.Value)
	}
	if v < 0 {
		return fmt.Errorf("line %d: duration %q is negative", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

type pos struct{ line, col int }

// Error is a problem in the configuration, located in its file.
type Error struct {
	File         string
	Line, Column int
	// Msg says what is wrong and how to fix it.
	Msg string
}

func (e *Error) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case e.Column == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Unwrap returns twostage.ErrInvalid.
func (e *Error) Unwrap() error { return twostage.ErrInvalid }

// Load reads and parses the file at name.
func Load(name string) (*Config, error) {
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("reading configuration: %s does not exist; create one with `twostage init`: %w", name, twostage.ErrInvalid)
		}
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading configuration %s: %w", name, err)
	}
	if len(data) > MaxSize {
		return nil, &Error{File: name, Msg: fmt.Sprintf("file is larger than %d bytes; is this the right file?", MaxSize)}
	}
	return Parse(name, data)
}

// Parse parses data, the contents of file name, applies defaults and checks
// every rule. Errors are *Error (several joined when there are several),
// wrapping twostage.ErrInvalid.
func Parse(name string, data []byte) (*Config, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Msg: "file is empty; create one with `twostage init`"}
		}
		return nil, syntaxLine(data, yamlError(name, err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{File: name, Line: extra.Line, Column: extra.Column, Msg: "a second YAML document; the configuration is one document, remove the '---' separator"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Error{File: name, Line: root.Line, Column: root.Column, Msg: "the configuration must be a mapping of keys such as project:, region:, services:"}
	}
	c := &Config{file: name, lines: map[string]pos{}}
	var errs []error
	walk(name, root, reflect.TypeFor[Config](), "", c.lines, &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := root.Decode(c); err != nil {
		return nil, yamlError(name, err)
	}
	c.defaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns a yaml error into *Error values, one per line reported.
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var errs []error
	for _, m := range msgs {
		e := &Error{File: name, Msg: m}
		if g := lineRE.FindStringSubmatch(m); g != nil {
			fmt.Sscan(g[1], &e.Line)
			e.Msg = g[2]
			if inner := lineRE.FindStringSubmatch(e.Msg); inner != nil {
				e.Msg = inner[2]
			}
		}
		e.Msg = strings.TrimPrefix(e.Msg, "yaml: ")
		if strings.Contains(e.Msg, "cannot unmarshal") {
			e.Msg += "; check the value's type (quote strings, write numbers without quotes)"
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// syntaxLine moves a syntax error to the line that causes it. The YAML
// parser reports a block's first line for errors found further down (an
// indentation mistake on line 8 is "line 3: did not find expected key"):
// the culprit is the first line from there whose addition makes the
// document fail to parse.
func syntaxLine(data []byte, err error) error {
	var e *Error
	if !errors.As(err, &e) || e.Line == 0 || e.Column != 0 {
		return err
	}
	lines := strings.SplitAfter(string(data), "\n")
	for i := e.Line; i <= len(lines); i++ {
		var n yaml.Node
		if yaml.Unmarshal([]byte(strings.Join(lines[:i], "")), &n) != nil {
			if i != e.Line {
				e.Msg += fmt.Sprintf(" (check the indentation of line %d against the lines above it)", i)
				e.Line = i
			}
			return e
		}
	}
	return err
}

// walk checks every key of n against t's yaml tags, recording positions.
func walk(file string, n *yaml.Node, t reflect.Type, prefix string, lines map[string]pos, errs *[]error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.AliasNode:
		*errs = append(*errs, &Error{File: file, Line: n.Line, Column: n.Column, Msg: "YAML aliases (*name) are not allowed in the configuration; write the value out"})
	case t.Kind() == reflect.Struct && t != reflect.TypeFor[Duration]():
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return
			}
			*errs = append(*errs, &Error{File: file, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf("%s must be a mapping of keys (%s)", orRoot(prefix), strings.Join(keysOf(t), ", "))})
			return
		}
		known := keysOf(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				*errs = append(*errs, &Error{File: file, Line: k.Line, Column: k.Column, Msg: "keys must be plain names"})
				continue
			}
			if seen[k.Value] {
				*errs = append(*errs, &Error{File: file, Line: k.Line, Column: k.Column, Msg: fmt.Sprintf("key %q appears twice in %s; keep one", k.Value, orRoot(prefix))})
				continue
			}
			seen[k.Value] = true
			f, ok := fieldByTag(t, k.Value)
			if !ok {
				msg := fmt.Sprintf("unknown key %q in %s; known keys: %s", k.Value, orRoot(prefix), strings.Join(known, ", "))
				if s := closest(k.Value, known); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				*errs = append(*errs, &Error{File: file, Line: k.Line, Column: k.Column, Msg: msg})
				continue
			}
			p := join(prefix, k.Value)
			lines[p] = pos{v.Line, v.Column}
			walk(file, v, f.Type, p, lines, errs)
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return
			}
			*errs = append(*errs, &Error{File: file, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf("%s must be a mapping (NAME: value lines)", prefix)})
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(prefix, k.Value)
			lines[p] = pos{v.Line, v.Column}
			walk(file, v, t.Elem(), p, lines, errs)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if n.Tag == "!!null" {
				return
			}
			*errs = append(*errs, &Error{File: file, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf("%s must be a list (lines starting with '- ')", prefix)})
			return
		}
		for i, e := range n.Content {
			p := fmt.Sprintf("%s[%d]", prefix, i+1)
			lines[p] = pos{e.Line, e.Column}
			walk(file, e, t.Elem(), p, lines, errs)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			*errs = append(*errs, &Error{File: file, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf("%s must be a single value, not a list or mapping", prefix)})
		}
	}
}

func orRoot(p string) string {
	if p == "" {
		return "the top level"
	}
	return p
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func keysOf(t reflect.Type) []string {
	var ks []string
	for f := range t.Fields() {
		if tag := strings.Split(f.Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
			ks = append(ks, tag)
		}
	}
	return ks
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if strings.Split(f.Tag.Get("yaml"), ",")[0] == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// closest suggests the known key nearest to k (same key with '_' for '-',
// different case, or a small edit distance).
func closest(k string, known []string) string {
	norm := strings.ReplaceAll(strings.ToLower(k), "_", "-")
	best, bestD := "", 3
	for _, c := range known {
		if c == norm {
			return c
		}
		if d := editDistance(norm, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (c *Config) defaults() {
	if c.Branch == "" {
		c.Branch = "main"
	}
	if c.Registry.Location == "" {
		c.Registry.Location = c.Region
	}
	if c.Release.TagPattern == "" {
		c.Release.TagPattern = pipeline.SemverTag
	}
	if c.Release.AwaitTimeout == 0 {
		c.Release.AwaitTimeout = Duration(30 * time.Minute)
	}
	if c.Rollout.Steps == nil {
		for _, s := range traffic.DefaultPlan().Steps {
			c.Rollout.Steps = append(c.Rollout.Steps, Step{Percent: s.Percent, Bake: Duration(s.Bake), MaxWait: Duration(s.MaxWait)})
		}
	}
	if c.Rollout.GateInterval == 0 {
		c.Rollout.GateInterval = Duration(30 * time.Second)
	}
	if c.Rollout.Metrics.Source == "" && len(c.Rollout.Gates) > 0 {
		c.Rollout.Metrics.Source = MetricsCloudMonitoring
	}
	if c.WIF.Pool == "" {
		c.WIF.Pool = "github"
	}
	if c.WIF.Provider == "" {
		c.WIF.Provider = "github-actions"
	}
}

// settingAt returns the key of the first setting that is invalid on its
// own, or "" when only a combination is (min-instances above
// max-instances, vpc-egress without vpc-connector), so a bad value is
// reported at its own line.
func settingAt(s StageSettings) string {
	v := reflect.ValueOf(s)
	for i := range v.NumField() {
		var one StageSettings
		reflect.ValueOf(&one).Elem().Field(i).Set(v.Field(i))
		if one.Overrides().Validate() != nil {
			return strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0]
		}
	}
	return ""
}

var (
	projectRE = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	regionRE  = regexp.MustCompile(`^[a-z]+-[a-z]+[0-9]+$`)
	repoIDRE  = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	digitsRE  = regexp.MustCompile(`^[0-9]{1,20}$`)
	envNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,255}$`)
	ghRepoRE  = regexp.MustCompile(`^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$`)
)

// at returns an *Error located at key path p (or at the file if unknown).
func (c *Config) at(p, format string, args ...any) error {
	e := &Error{File: c.file, Msg: fmt.Sprintf(format, args...)}
	if l, ok := c.lines[p]; ok {
		e.Line, e.Column = l.line, l.col
	}
	return e
}

func (c *Config) validate() error {
	var errs []error
	add := func(p, format string, args ...any) { errs = append(errs, c.at(p, format, args...)) }
	for _, st := range []struct {
		key string
		s   StageSettings
	}{{"settings.dev", c.Settings.Dev}, {"settings.prod", c.Settings.Prod}} {
		for name, ref := range st.s.Secrets {
			if ref.Secret == "" {
				add(st.key+".secrets."+name, "%s.secrets.%s needs secret: NAME (the Secret Manager secret), for example {secret: db-password, version: latest}", st.key, name)
			}
		}
		if err := st.s.Overrides().Validate(); err != nil {
			key, field := st.key, settingAt(st.s)
			if field != "" {
				key += "." + field
			}
			add(key, "%s: %v", key, err)
		}
	}
	switch {
	case c.Project == "":
		add("project", "project is missing; add `project: my-project` (the Google Cloud project ID)")
	case !projectRE.MatchString(c.Project):
		add("project", "project %q is not a project ID: 6 to 30 lower-case letters, digits or hyphens, starting with a letter", c.Project)
	}
	if c.ProjectNumber != "" && !digitsRE.MatchString(c.ProjectNumber) {
		add("project-number", "project-number %q is not a number; find it with `gcloud projects describe %s --format='value(projectNumber)'` and quote it", c.ProjectNumber, c.Project)
	}
	switch {
	case c.Region == "":
		add("region", "region is missing; add for example `region: us-central1`")
	case !regionRE.MatchString(c.Region):
		add("region", "region %q is not a region name such as us-central1", c.Region)
	}
	if c.Registry.Location != c.Region && !regionRE.MatchString(c.Registry.Location) && !slices.Contains([]string{"us", "europe", "asia"}, c.Registry.Location) {
		add("registry.location", "registry.location %q is not a region or multi-region (us, europe, asia)", c.Registry.Location)
	}
	switch {
	case c.Registry.Repository == "":
		add("registry", "registry.repository is missing; add the Artifact Registry repository ID, for example `repository: apps`")
	case !repoIDRE.MatchString(c.Registry.Repository):
		add("registry.repository", "registry.repository %q is not a repository ID: lower-case letters, digits and hyphens, at most 63", c.Registry.Repository)
	}
	if c.Registry.Image == "" {
		add("registry", "registry.image is missing; add the image name, for example `image: api`")
	} else if _, err := registry.ParseRepository("example-docker.pkg.dev/p/r/" + c.Registry.Image); err != nil || strings.ContainsAny(c.Registry.Image, ":@") {
		add("registry.image", "registry.image %q is not an image name: lower-case path components such as api or team/api, without a tag", c.Registry.Image)
	}
	for _, s := range []struct{ key, name string }{{"services.dev", c.Services.Dev}, {"services.prod", c.Services.Prod}} {
		if s.name == "" {
			add("services", "%s is missing; add the Cloud Run service name", s.key)
			continue
		}
		if err := stage.ValidateServiceName(s.name); err != nil {
			add(s.key, "%s: %v", s.key, err)
		}
	}
	if c.Services.Dev != "" && c.Services.Dev == c.Services.Prod {
		add("services.prod", "services.dev and services.prod are both %q; the stages need two services, for example %q and %q", c.Services.Dev, c.Services.Dev+"-dev", c.Services.Dev)
	}
	seen := map[string]bool{c.Region: true}
	for i, r := range c.Services.ProdRegions {
		p := fmt.Sprintf("services.prod-regions[%d]", i+1)
		switch {
		case !regionRE.MatchString(r):
			add(p, "prod region %q is not a region name such as europe-west1", r)
		case seen[r]:
			add(p, "prod region %q is listed twice (region: is the first prod region); remove it", r)
		}
		seen[r] = true
	}
	if c.Services.RuntimeServiceAccount != "" && !strings.Contains(c.Services.RuntimeServiceAccount, "@") {
		add("services.runtime-service-account", "services.runtime-service-account %q is not a service account email", c.Services.RuntimeServiceAccount)
	}
	if strings.HasPrefix(c.Branch, "refs/") || strings.ContainsAny(c.Branch, " ~^:?*[\\") {
		add("branch", "branch %q is not a branch name; write it without refs/heads/, for example main", c.Branch)
	}
	if _, err := regexp.Compile(c.Release.TagPattern); err != nil {
		add("release.tag-pattern", "release.tag-pattern does not compile: %v", err)
	}
	if c.Release.AllowedSigners != "" && !c.Release.SignedTags {
		add("release.allowed-signers", "release.allowed-signers is set but release.signed-tags is false; set signed-tags: true or remove it")
	}
	if s := c.Release.Smoke; s != nil {
		if s.Path != "" && !strings.HasPrefix(s.Path, "/") {
			add("release.smoke.path", "release.smoke.path %q must start with '/'", s.Path)
		}
		if s.Status != 0 && (s.Status < 100 || s.Status > 599) {
			add("release.smoke.status", "release.smoke.status %d is not an HTTP status", s.Status)
		}
	}
	if err := c.Plan().Validate(); err != nil {
		p := "rollout.steps"
		var n int
		if _, e := fmt.Sscanf(err.Error(), "traffic: step %d:", &n); e == nil {
			p = fmt.Sprintf("rollout.steps[%d]", n)
		}
		add(p, "rollout.steps: %v", err)
	}
	for i, g := range c.Rollout.Gates {
		p := fmt.Sprintf("rollout.gates[%d]", i+1)
		switch g.Type {
		case GateThreshold, GateSequential:
		case "":
			add(p, "gate %d has no type; use type: threshold or type: sequential", i+1)
		default:
			add(p+".type", "gate type %q is unknown; use threshold or sequential", g.Type)
		}
		if g.MaxErrorRate != nil && !(*g.MaxErrorRate >= 0 && *g.MaxErrorRate < 1) {
			add(p+".max-error-rate", "max-error-rate %v is not in [0, 1); 1%% is 0.01", *g.MaxErrorRate)
		}
		if g.Alpha != nil && !(*g.Alpha > 0 && *g.Alpha < 1) {
			add(p+".alpha", "alpha %v is not in (0, 1); use for example 0.01", *g.Alpha)
		}
		if g.MinRequests != nil && *g.MinRequests < 0 {
			add(p+".min-requests", "min-requests %d is negative", *g.MinRequests)
		}
		if g.Type == GateSequential && (g.MaxErrorRate != nil || g.Interval != 0) {
			add(p, "max-error-rate and interval belong to threshold gates; a sequential gate takes alpha, min-requests, min-duration")
		}
		if g.Type == GateThreshold && (g.Alpha != nil || g.MinDuration != 0) {
			add(p, "alpha and min-duration belong to sequential gates; a threshold gate takes max-error-rate, min-requests, interval")
		}
	}
	switch m := c.Rollout.Metrics; m.Source {
	case "", MetricsCloudMonitoring:
		if m.File != "" {
			add("rollout.metrics.file", "rollout.metrics.file is only read with source: file")
		}
	case MetricsFile:
		if m.File == "" {
			add("rollout.metrics", "rollout.metrics.source is file but rollout.metrics.file is missing; name the scripted traffic file, for example metrics.json")
		}
	default:
		add("rollout.metrics.source", "rollout.metrics.source %q is unknown; use cloud-monitoring or file", m.Source)
	}
	if c.WIF.Repository != "" && !ghRepoRE.MatchString(c.WIF.Repository) {
		add("wif.repository", "wif.repository %q is not OWNER/NAME", c.WIF.Repository)
	}
	for _, k := range []struct{ key, v string }{{"wif.repository-id", c.WIF.RepositoryID}, {"wif.owner-id", c.WIF.OwnerID}} {
		if k.v != "" && !digitsRE.MatchString(k.v) {
			add(k.key, "%s %q is not numeric; find it with `gh api repos/OWNER/NAME --jq '.id, .owner.id'` and quote it", k.key, k.v)
		}
	}
	if e := c.WIF.ProdEnvironment; e != "" && !envNameRE.MatchString(e) {
		add("wif.prod-environment", "wif.prod-environment %q is not a GitHub Environment name (letters, digits, '.', '_', '-', at most 255)", e)
	}
	if c.WIF.ServiceAccount != "" && !strings.Contains(c.WIF.ServiceAccount, "@") {
		add("wif.service-account", "wif.service-account %q is not a service account email", c.WIF.ServiceAccount)
	}
	if c.Audit.Log != "" && path.IsAbs(c.Audit.Log) && strings.HasPrefix(c.Audit.Log, "/dev/") {
		add("audit.log", "audit.log %q is a device; name a file", c.Audit.Log)
	}
	return errors.Join(errs...)
}

// File returns the name the configuration was read from.
func (c *Config) File() string { return c.file }

// Plan returns the rollout plan.
func (c *Config) Plan() traffic.Plan {
	var p traffic.Plan
	for _, s := range c.Rollout.Steps {
		p.Steps = append(p.Steps, traffic.Step{Percent: s.Percent, Bake: s.Bake.D(), MaxWait: s.MaxWait.D()})
	}
	return p
}

// TagPattern returns the compiled release tag pattern.
func (c *Config) TagPattern() *regexp.Regexp { return regexp.MustCompile(c.Release.TagPattern) }

// RepositoryName is the Artifact Registry resource name,
// "projects/P/locations/L/repositories/R".
func (c *Config) RepositoryName() string {
	return fmt.Sprintf("projects/%s/locations/%s/repositories/%s", c.Project, c.Registry.Location, c.Registry.Repository)
}

// ServiceName is the Cloud Run resource name of service in Region.
func (c *Config) ServiceName(service string) string { return c.ServiceNameIn(c.Region, service) }

// ServiceNameIn is the Cloud Run resource name of service in region.
func (c *Config) ServiceNameIn(region, service string) string {
	return fmt.Sprintf("projects/%s/locations/%s/services/%s", c.Project, region, service)
}

// Regions are the prod regions: Region, then ProdRegions.
func (c *Config) Regions() []string { return append([]string{c.Region}, c.Services.ProdRegions...) }
