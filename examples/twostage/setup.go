package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	runapi "cloud.google.com/go/run/apiv2"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/examples/twostage/internal/config"
	"github.com/twostage/twostage/examples/twostage/internal/metricsfile"
	"github.com/twostage/twostage/examples/twostage/internal/workflows"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// version returns the module version the binary was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

type versionResult struct {
	Version string `json:"version"`
	Go      string `json:"go"`
}

func (v versionResult) Text() string { return fmt.Sprintf("twostage %s (%s)\n", v.Version, v.Go) }

func (a *app) cmdVersion(_ context.Context, args []string) (any, error) {
	if err := a.parse(a.flags("version"), args); err != nil {
		return nil, err
	}
	return versionResult{Version: version(), Go: runtime.Version()}, nil
}

// --- status

type revisionStatus struct {
	Name    string            `json:"name"`
	Image   string            `json:"image"`
	Digest  string            `json:"digest"`
	Ready   bool              `json:"ready"`
	Percent int               `json:"percent"`
	Tags    []string          `json:"tags,omitempty"`
	TagURLs map[string]string `json:"tagUrls,omitempty"`
	Commit  string            `json:"commit,omitempty"`
	Ref     string            `json:"ref,omitempty"`
	Created time.Time         `json:"created"`
}

type stageStatus struct {
	// Settings are twostage.yaml's settings for the stage; Drift says
	// when the serving revision was deployed with other ones.
	Settings  string                `json:"settings,omitempty"`
	Drift     string                `json:"drift,omitempty"`
	Service   string                `json:"service"`
	Region    string                `json:"region"`
	Exists    bool                  `json:"exists"`
	URL       string                `json:"url,omitempty"`
	Split     string                `json:"split,omitempty"`
	Latest    string                `json:"latestRevision,omitempty"`
	Tags      map[string]string     `json:"tags,omitempty"`
	Rollout   *traffic.RolloutState `json:"rollout,omitempty"`
	Revisions []revisionStatus      `json:"revisions,omitempty"`
}

type statusResult struct {
	Dev  stageStatus `json:"dev"`
	Prod stageStatus `json:"prod"`
	// ProdRegions are the prod service in the extra regions.
	ProdRegions []stageStatus `json:"prodRegions,omitempty"`
}

func (s statusResult) Text() string {
	var b strings.Builder
	all := []struct {
		name string
		st   stageStatus
	}{{"dev", s.Dev}, {"prod", s.Prod}}
	for _, r := range s.ProdRegions {
		all = append(all, struct {
			name string
			st   stageStatus
		}{"prod", r})
	}
	for _, x := range all {
		fmt.Fprintf(&b, "%s (%s in %s):", x.name, x.st.Service, x.st.Region)
		if !x.st.Exists {
			b.WriteString(" no service yet\n")
			continue
		}
		fmt.Fprintf(&b, " %s\n  url %s\n", x.st.Split, x.st.URL)
		if x.st.Settings != "" {
			fmt.Fprintf(&b, "  settings %s\n", x.st.Settings)
		}
		if x.st.Drift != "" {
			fmt.Fprintf(&b, "  drift: %s\n", x.st.Drift)
		}
		if r := x.st.Rollout; r != nil {
			fmt.Fprintf(&b, "  rollout of %s: %s at step %d/%d", r.Candidate, r.Phase, r.Step, len(r.Percents))
			if r.Reason != "" {
				fmt.Fprintf(&b, " (%s)", r.Reason)
			}
			b.WriteString("\n")
		}
		for _, r := range x.st.Revisions {
			ready := "ready"
			if !r.Ready {
				ready = "NOT READY"
			}
			line := fmt.Sprintf("  %-34s %3d%%  %s  %s  %s", r.Name, r.Percent, short(r.Digest), ready, strings.Join(r.Tags, ","))
			b.WriteString(strings.TrimRight(line, " ") + "\n")
			for _, t := range r.Tags {
				if u := r.TagURLs[t]; u != "" {
					fmt.Fprintf(&b, "    %s: %s\n", t, u)
				}
			}
		}
	}
	return b.String()
}

func short(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

func (a *app) cmdStatus(ctx context.Context, args []string) (any, error) {
	if err := a.parse(a.flags("status"), args); err != nil {
		return nil, err
	}
	p, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := statusResult{Dev: stageOf(a.cfg.Services.Dev, a.cfg.Region, st.Dev), Prod: stageOf(a.cfg.Services.Prod, a.cfg.Region, st.Prod)}
	settingsOf(&out.Dev, st.Dev, a.cfg.Settings.Dev)
	settingsOf(&out.Prod, st.Prod, a.cfg.Settings.Prod)
	for _, r := range a.regions[1:] {
		st, err := r.pipe.Status(ctx)
		if err != nil {
			return out, fmt.Errorf("%s: %w", r.name, err)
		}
		out.ProdRegions = append(out.ProdRegions, stageOf(a.cfg.Services.Prod, r.name, st.Prod))
	}
	if out.Prod.Exists {
		a.output("prod_split", out.Prod.Split)
	}
	return out, nil
}

// settingsOf shows a stage's configured settings and whether its serving
// revision runs them (the stage.LabelConfig fingerprint it was deployed
// with).
func settingsOf(out *stageStatus, s pipeline.StageStatus, set config.StageSettings) {
	o := set.Overrides()
	out.Settings = settingsText(set)
	if !s.Exists {
		return
	}
	shares := traffic.Shares(s.Split)
	for _, r := range s.Revisions {
		if shares[r.Name] == 0 {
			continue
		}
		if got, want := r.Labels[stage.LabelConfig], o.Fingerprint(); got != want {
			out.Drift = fmt.Sprintf("%s serves %d%% with settings %q, but twostage.yaml's are %q; the next deploy applies them", r.Name, shares[r.Name], orNone(got), orNone(want))
			return
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// settingsText is a stage's settings in one line, keys sorted; secrets by
// reference only.
func settingsText(s config.StageSettings) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		parts = append(parts, fmt.Sprintf("env %s=%s", k, s.Env[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(s.Secrets)) {
		v := s.Secrets[k].Version
		if v == "" {
			v = "latest"
		}
		parts = append(parts, fmt.Sprintf("secret %s=%s:%s", k, s.Secrets[k].Secret, v))
	}
	timeout := ""
	if s.Timeout != 0 {
		timeout = s.Timeout.D().String()
	}
	for _, kv := range [][2]string{{"service-account", s.ServiceAccount}, {"cpu", s.CPU}, {"memory", s.Memory},
		{"timeout", timeout}, {"vpc-connector", s.VPCConnector}, {"vpc-egress", s.VPCEgress},
		{"cloudsql-instances", strings.Join(s.CloudSQLInstances, ",")}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+" "+kv[1])
		}
	}
	for _, kv := range []struct {
		k string
		v *int32
	}{{"concurrency", s.Concurrency}, {"min-instances", s.MinInstances}, {"max-instances", s.MaxInstances}, {"port", s.Port}} {
		if kv.v != nil {
			parts = append(parts, fmt.Sprintf("%s %d", kv.k, *kv.v))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
		parts = append(parts, fmt.Sprintf("label %s=%s", k, s.Labels[k]))
	}
	return strings.Join(parts, ", ")
}

func stageOf(name, region string, s pipeline.StageStatus) stageStatus {
	out := stageStatus{Service: name, Region: region, Exists: s.Exists}
	if !s.Exists {
		return out
	}
	out.Split, out.Latest = s.Split.String(), s.Split.LatestRevision
	if s.Rollout.Candidate != "" {
		r := s.Rollout
		out.Rollout = &r
	}
	shares := traffic.Shares(s.Split)
	tags := map[string][]string{}
	for _, t := range s.Split.Targets {
		if t.Tag == "" {
			continue
		}
		rev := t.Revision
		if t.Latest {
			rev = s.Split.LatestRevision
		}
		if out.Tags == nil {
			out.Tags = map[string]string{}
		}
		out.Tags[t.Tag] = rev
		tags[rev] = append(tags[rev], t.Tag)
	}
	for _, r := range s.Revisions {
		if out.URL == "" {
			out.URL = r.URL
		}
		rs := revisionStatus{
			Name: r.Name, Image: r.Artifact.String(), Digest: r.Artifact.Digest, Ready: r.Ready,
			Percent: shares[r.Name], Tags: tags[r.Name], TagURLs: r.TagURLs,
			Commit: r.Labels[stage.LabelCommit], Ref: r.Labels[stage.LabelRef], Created: r.Created,
		}
		sort.Strings(rs.Tags)
		out.Revisions = append(out.Revisions, rs)
	}
	return out
}

// --- init

type initResult struct {
	Dir   string   `json:"dir"`
	Files []string `json:"files"`
	// Build is the dev workflow's build kind; Action the pinned action.
	Build  string `json:"build"`
	Action string `json:"action"`
}

func (r initResult) Text() string {
	var b strings.Builder
	for _, f := range r.Files {
		fmt.Fprintf(&b, "wrote %s\n", filepath.Join(r.Dir, f))
	}
	fmt.Fprintf(&b, "dev.yml builds with %s; the workflows use %s\n", r.Build, r.Action)
	b.WriteString("next: edit twostage.yaml, run `twostage doctor`, then `twostage wif plan` to set up keyless deploys\n")
	return b.String()
}

func (a *app) cmdInit(_ context.Context, args []string) (any, error) {
	fs := a.flags("init")
	dir := fs.String("dir", ".", "the repository to write into")
	project := fs.String("project", "my-project", "the Google Cloud project ID")
	region := fs.String("region", "us-central1", "the Cloud Run region")
	repo := fs.String("repository", "apps", "the Artifact Registry repository ID")
	image := fs.String("image", "", "the image name (default the service name)")
	service := fs.String("service", "api", "the prod service name; dev is SERVICE-dev")
	branch := fs.String("branch", "main", "the branch that deploys to dev")
	build := fs.String("build", "", "how dev.yml builds the image: docker (a Dockerfile, with buildx), go (a static binary packed without Docker) or static (the files of --image-dir); default docker when a Dockerfile exists, go when a go.mod does, else static")
	imageDir := fs.String("image-dir", "dist", "go and static: the directory packed into the image under /app")
	ref := fs.String("ref", "", "the commit of the twostage repository the workflows pin the twostage action to (full 40-hex SHA; default the commit this binary was built from)")
	refVersion := fs.String("ref-version", "", "the version written beside --ref as its comment (default the module version, else the commit's first 7 characters)")
	play := fs.Bool("play", false, "local play: gate the rollout on a scripted traffic file (traffic.json, written too) instead of Cloud Monitoring")
	force := fs.Bool("force", false, "overwrite existing files")
	if err := a.parse(fs, args); err != nil {
		return nil, err
	}
	if *image == "" {
		*image = *service
	}
	kind := workflows.Build(*build)
	if kind == "" {
		kind = workflows.BuildStatic
		switch {
		case exists(filepath.Join(*dir, "Dockerfile")):
			kind = workflows.BuildDocker
		case exists(filepath.Join(*dir, "go.mod")):
			kind = workflows.BuildGo
		}
	} else if !slices.Contains(workflows.Builds(), kind) {
		return nil, usagef("--build %q: use docker, go or static", *build)
	}
	pin, err := actionPin(*ref, *refVersion)
	if err != nil {
		return nil, err
	}
	files, err := workflows.Files(workflows.Params{
		Project: *project, Region: *region, Repository: *repo, Image: *image,
		DevService: *service + "-dev", ProdService: *service, Branch: *branch,
		Build: kind, ImageDir: *imageDir, CLI: pin, Play: *play,
	})
	if err != nil {
		return nil, err
	}
	// The generated configuration must pass our own parser.
	if _, err := config.Parse(config.FileName, files[config.FileName]); err != nil {
		return nil, usagef("the flags make an invalid configuration: %v", err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	if !*force {
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(*dir, n)); err == nil {
				return nil, fmt.Errorf("init: %s already exists; pass --force to overwrite it: %w", filepath.Join(*dir, n), twostage.ErrConflict)
			}
		}
	}
	for _, n := range names {
		p := filepath.Join(*dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
		if err := os.WriteFile(p, files[n], 0o644); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
	}
	return initResult{Dir: *dir, Files: names, Build: string(kind), Action: pin.Uses()}, nil
}

func exists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

// actionRef is the commit the twostage action was pinned at, set by the
// action's build (-ldflags "-X main.actionRef=…").
var actionRef string

// actionPin is the twostage action the generated workflows use: ref if
// given, else the commit this binary was built from.
func actionPin(ref, refVersion string) (workflows.Action, error) {
	pin := workflows.Action{Repo: workflows.ActionRepo, SHA: strings.ToLower(ref), Version: refVersion}
	if pin.SHA == "" {
		pin.SHA = builtFrom()
	}
	if pin.SHA == "" {
		return pin, usagef("init: pass --ref with the full commit SHA of github.com/twostage/twostage to pin the twostage action to (this binary does not know the commit it was built from)")
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(pin.SHA) {
		return pin, usagef("init: --ref %q is not a full 40-hex commit SHA; actions are pinned by commit, never by a tag or branch that can move", ref)
	}
	if pin.Version == "" {
		if v := version(); strings.HasPrefix(v, "v") {
			pin.Version = v
		} else {
			pin.Version = pin.SHA[:7]
		}
	}
	return pin, nil
}

// builtFrom is the commit of the twostage repository this binary was built
// from: the action's pinned ref, else Go's VCS stamp.
func builtFrom() string {
	if regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(actionRef) {
		return actionRef
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

// --- doctor

type finding struct {
	Check    string `json:"check"`
	Severity string `json:"severity"` // ok, info, warning, error
	Message  string `json:"message"`
	Fix      string `json:"fix,omitempty"`
}

type doctorResult struct {
	Findings []finding `json:"findings"`
}

func (r doctorResult) Text() string {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%-7s %-18s %s\n", f.Severity, f.Check, f.Message)
		if f.Fix != "" {
			fmt.Fprintf(&b, "        %-18s fix: %s\n", "", f.Fix)
		}
	}
	return b.String()
}

// errDoctor is returned when doctor finds errors.
var errDoctor = errors.New("doctor found problems")

func (a *app) cmdDoctor(ctx context.Context, args []string) (any, error) {
	if err := a.parse(a.flags("doctor"), args); err != nil {
		return nil, err
	}
	var out doctorResult
	add := func(check, sev, msg, fix string) {
		out.Findings = append(out.Findings, finding{check, sev, msg, fix})
	}
	if _, err := a.open(ctx); err != nil {
		if a.cfg == nil {
			add("config", "error", err.Error(), "fix the file at the line shown, or create one with `twostage init`")
		} else if a.gh.OIDC {
			add("backend", "error", err.Error(), "keyless auth: compare this job (repository, ref, event, environment) with the wif: section (`twostage wif simulate --event EVENT --ref REF`), and check that the pool and provider exist (`twostage wif plan`)")
		} else {
			add("backend", "error", err.Error(), "check credentials (gcloud auth application-default login) or TWOSTAGE_EMULATOR_HOST")
		}
		return out, errDoctor
	}
	add("config", "ok", fmt.Sprintf("%s parses; plan %s", a.cfg.File(), a.cfg.Plan()), "")
	if a.backend.Emulated {
		add("backend", "info", "using the local emulator ("+a.env("TWOSTAGE_EMULATOR_HOST")+")", "")
	}
	if fs, err := a.backend.AR.Check(ctx); err != nil {
		add("repository", "error", err.Error(), fmt.Sprintf("create it: gcloud artifacts repositories create %s --repository-format=docker --location=%s --immutable-tags", a.cfg.Registry.Repository, a.cfg.Registry.Location))
	} else {
		for _, f := range fs {
			add("repository/"+f.Check, string(f.Severity), f.Message, "")
		}
		if len(fs) == 0 {
			add("repository", "ok", a.cfg.RepositoryName()+" is a DOCKER repository with immutable tags", "")
		}
	}
	type svcCheck struct {
		stage string
		svc   pipeline.Service
		name  string
	}
	checks := []svcCheck{{"dev", a.backend.Dev, a.cfg.Services.Dev}}
	for _, r := range a.regions {
		check := "prod"
		if r.name != a.cfg.Region {
			check = "prod/" + r.name
		}
		checks = append(checks, svcCheck{check, r.prod, a.cfg.Services.Prod})
	}
	for _, s := range checks {
		sp, err := s.svc.Split(ctx)
		switch {
		case errors.Is(err, twostage.ErrNotFound):
			fix := "`twostage dev` creates it on the first push to " + a.cfg.Branch
			if strings.HasPrefix(s.stage, "prod") {
				fix = "the first `twostage release` creates it serving 100%"
			}
			add("service/"+s.stage, "info", fmt.Sprintf("%s does not exist yet", s.svc.(interface{ ResourceName() string }).ResourceName()), fix)
		case errors.Is(err, twostage.ErrPolicy) || isPermission(err):
			add("service/"+s.stage, "error", err.Error(), "grant the deployer roles/run.developer on the service (see `twostage wif render`)")
		case err != nil:
			add("service/"+s.stage, "error", err.Error(), "check the project, region and credentials")
		default:
			if _, err := traffic.DecodeState(sp.State); err != nil {
				add("service/"+s.stage, "error", err.Error(), "abort the rollout with `twostage rollback`, or clear the twostage.dev/rollout annotation")
			} else {
				add("service/"+s.stage, "ok", fmt.Sprintf("%s serves %s", s.name, sp), "")
			}
			a.checkIAM(ctx, s.svc.(interface{ ResourceName() string }).ResourceName(), "iam/"+s.stage, add)
		}
	}
	a.doctorRetention(ctx, add)
	if a.cfg.Release.SignedTags {
		if _, err := exec.LookPath("git"); err != nil {
			add("signed-tags", "error", "signed tags are required but git is not installed", "install git (actions/checkout provides it on GitHub runners)")
		}
		if f := a.cfg.Release.AllowedSigners; f != "" {
			if _, err := os.Stat(a.rel(f)); err != nil {
				add("signed-tags", "error", fmt.Sprintf("release.allowed-signers %s: %v", f, err), "commit the allowed-signers file: one line per releaser, `EMAIL ssh-ed25519 AAAA…`")
			}
		}
		add("signed-tags", "info", "release tags must pass `git verify-tag`; the release workflow checks out with fetch-depth: 0 so the tag object is present", "")
	}
	if m := a.cfg.Rollout.Metrics; m.Source == config.MetricsFile {
		if data, err := os.ReadFile(a.rel(m.File)); err != nil {
			add("metrics", "error", err.Error(), "write the scripted traffic file (see README: local play)")
		} else if _, err := metricsfile.Parse(data); err != nil {
			add("metrics", "error", err.Error(), "fix the scripted traffic file")
		}
	}
	if s, ok, err := a.wifSetupErr(); err != nil {
		add("wif", "error", err.Error(), "anchor release.tag-pattern once at the start (^…)")
	} else if ok {
		a.doctorWIF(s, add)
	} else {
		add("wif", "info", "wif.repository, wif.repository-id, wif.owner-id or project-number is not set, so keyless deploys are not configured", "fill in the wif: section, then `twostage wif plan`")
	}
	for _, f := range out.Findings {
		if f.Severity == "error" {
			return out, errDoctor
		}
	}
	return out, nil
}

// doctorRetention checks that no cleanup policy of the repository can
// delete an image a prod revision that serves or holds a tag (stable,
// prior, candidate) runs, in any region.
func (a *app) doctorRetention(ctx context.Context, add func(check, sev, msg, fix string)) {
	var running []registry.Artifact
	for _, r := range a.regions {
		sp, err := r.prod.Split(ctx)
		if err != nil {
			continue // reported by the service check
		}
		revs := traffic.Serving(sp)
		for _, t := range sp.Targets {
			if t.Tag != "" && t.Revision != "" {
				revs[t.Revision] = 0
			}
		}
		for _, name := range slices.Sorted(maps.Keys(revs)) {
			rev, err := r.prod.Revision(ctx, name)
			if err != nil {
				add("repository/retention", "error", err.Error(), "check the credentials' access to the prod service")
				return
			}
			running = append(running, rev.Artifact)
		}
	}
	fs, err := a.backend.AR.CheckRetention(ctx, running)
	if err != nil {
		add("repository/retention", "error", err.Error(), "grant roles/artifactregistry.reader on the repository")
		return
	}
	for _, f := range fs {
		add("repository/"+f.Check, string(f.Severity), f.Message, "")
	}
	if len(fs) == 0 && len(running) > 0 {
		add("repository/retention", "ok", fmt.Sprintf("no cleanup policy of %s can delete the %d image(s) prod's serving and tagged revisions run", a.cfg.RepositoryName(), len(running)), "")
	}
}

func isPermission(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "permission")
}

// --- wif

// deployPermissions are the Cloud Run permissions a deployer needs on a
// service (all in roles/run.developer).
func deployPermissions() []string {
	return []string{"run.services.get", "run.services.update", "run.revisions.list"}
}

// checkIAM asks Cloud Run which deploy permissions the caller holds on
// service (TestIamPermissions) and reports the missing ones.
func (a *app) checkIAM(ctx context.Context, service, check string, add func(check, sev, msg, fix string)) {
	c, err := runapi.NewServicesClient(ctx, a.backend.RunOptions...)
	if err != nil {
		add(check, "warning", fmt.Sprintf("could not check permissions on %s: %v", service, err), "")
		return
	}
	defer c.Close()
	perms := deployPermissions()
	resp, err := c.TestIamPermissions(ctx, &iampb.TestIamPermissionsRequest{Resource: service, Permissions: perms})
	if err != nil {
		add(check, "warning", fmt.Sprintf("could not check permissions on %s: %v", service, err), "run doctor with the deployer's credentials")
		return
	}
	var missing []string
	for _, p := range perms {
		if !slices.Contains(resp.GetPermissions(), p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		add(check, "error", fmt.Sprintf("the caller lacks %s on %s", strings.Join(missing, ", "), service), "grant roles/run.developer on the service to the deployer (twostage wif render shows the bindings)")
		return
	}
	add(check, "ok", fmt.Sprintf("the caller may deploy to %s (%s)", service, strings.Join(perms, ", ")), "")
}

// FailureText: doctor's findings are what it found, problems included.
func (r doctorResult) FailureText() string { return r.Text() }

// FailureText: lint's findings stay true when lint fails.
