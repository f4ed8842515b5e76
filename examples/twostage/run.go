package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"golang.org/x/oauth2"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/examples/twostage/internal/auditlog"
	"github.com/twostage/twostage/examples/twostage/internal/backend"
	"github.com/twostage/twostage/examples/twostage/internal/config"
	"github.com/twostage/twostage/examples/twostage/internal/ghactions"
	"github.com/twostage/twostage/examples/twostage/internal/progress"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/traffic"
)

// Exit codes.
const (
	exitOK         = 0
	exitFailed     = 1
	exitUsage      = 2
	exitPolicy     = 3
	exitRolledBack = 4
	exitPaused     = 5
)

// errUsage marks a command-line mistake (exit 2).
var errUsage = errors.New("usage")

func usagef(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errUsage)...)
}

// exitCode maps an error to the documented exit codes.
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.Is(err, traffic.ErrRolledBack):
		return exitRolledBack
	case errors.Is(err, traffic.ErrPaused):
		return exitPaused
	case errors.Is(err, twostage.ErrPolicy):
		return exitPolicy
	}
	return exitFailed
}

const usage = `twostage — build once, promote by traffic (Cloud Run + Artifact Registry)

usage: twostage COMMAND [flags]

commands:
  init       write twostage.yaml and .github/workflows/{dev,release,promote}.yml
  dev        push the commit's image once and deploy it to dev with all traffic
  release    deploy a release tag's image (the one dev ran) to prod with 0% traffic
  promote    roll the candidate out step by step behind the gates
  rollback   send 100% of prod traffic back to the previous stable revision
  status     revisions, digests, traffic, tags, URLs and the rollout state
  plan       dry run: the traffic change promote (or rollback) would write
  wif        keyless GitHub Actions identity: wif lint|simulate|render|plan|apply
  doctor     check the configuration, repository and services, each finding with its fix
  version    print the version
  emulator   local play: serve the emulators (Cloud Run with its data plane, Artifact Registry, Monitoring, ...), print the export line
  load       local play: send a steady request rate to a service or tag URL of the emulator (--rate, --duration, --profile)
  ci         in GitHub Actions: dev on a branch push, release on a tag push (from GITHUB_REF)
  prune      delete revisions that serve nothing and hold no tag (dry run; --apply)
  registry-login  log Docker in to the Artifact Registry repository (keyless in Actions)

common flags: --config FILE (default twostage.yaml), --json
exit codes: 0 ok, 1 failed, 2 usage, 3 refused by policy, 4 rolled back, 5 paused
environment: TWOSTAGE_EMULATOR_HOST (local emulator), GITHUB_* (GitHub Actions),
  ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN (keyless auth through the wif: provider)
`

// run is the whole program: tests drive it in-process.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	return runClock(ctx, args, env, stdout, stderr, nil)
}

// runClock is run with an injected clock (nil: the system clock, or
// simulated time with --virtual-time).
func runClock(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer, clock twostage.Clock) int {
	a := &app{env: env, stdout: stdout, stderr: stderr, clock: clock, gh: ghactions.FromEnv(env)}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, rest := args[0], args[1:]
	commands := map[string]func(context.Context, []string) (any, error){
		"init":     a.cmdInit,
		"dev":      a.cmdDev,
		"release":  a.cmdRelease,
		"promote":  a.cmdPromote,
		"rollback": a.cmdRollback,
		"status":   a.cmdStatus,
		"plan":     a.cmdPlan,
		"wif":      a.cmdWIF,
		"doctor":   a.cmdDoctor,
		"version":  a.cmdVersion,
		"emulator": a.cmdEmulator,
		"load":     a.cmdLoad,

		"registry-login": a.cmdRegistryLogin,
		"prune":          a.cmdPrune,
	}
	commands["ci"] = func(ctx context.Context, args []string) (any, error) {
		// ci runs what the GitHub event asks for: a push to a branch is a
		// dev deploy, a tag push a release.
		switch c := a.gh.Command(); c {
		case "dev", "release":
			a.command = c
			return commands[c](ctx, args)
		}
		return nil, usagef("ci: GITHUB_REF %q is neither a branch nor a tag push; run dev or release explicitly", a.gh.Ref)
	}
	f, ok := commands[cmd]
	if !ok {
		fmt.Fprintf(stderr, "twostage: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
	a.command = cmd
	res, err := f(ctx, rest)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return a.finish(res, err)
}

// app is one invocation.
type app struct {
	env            func(string) string
	stdout, stderr io.Writer
	clock          twostage.Clock
	gh             ghactions.Env

	command string
	json    bool
	cfgPath string
	virtual bool

	cfg      *config.Config
	backend  *backend.Backend
	regions  []region // the prod regions, primary first
	events   pipeline.EventLog
	progress *progress.Reporter
	audit    *auditlog.Sink
	outputs  map[string]string
	popts    []pipeline.Option

	metricsClient *monitoring.MetricClient  // the gates' Cloud Monitoring client, if any
	tokenSource   oauth2.TokenSource        // the keyless token source in Actions, if any
	onEvent       func(pipeline.AuditEvent) // sees every pipeline event, if set
	summaryNote   string                    // markdown added to the job summary
}

// flags returns the command's flag set with the common flags.
func (a *app) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("twostage "+name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.BoolVar(&a.json, "json", false, "print the result as JSON on stdout")
	fs.StringVar(&a.cfgPath, "config", config.FileName, "the configuration file")
	return fs
}

func (a *app) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%v: %w", err, errUsage)
	}
	if fs.NArg() > 0 {
		return usagef("twostage %s: unexpected argument %q", a.command, fs.Arg(0))
	}
	return nil
}

// virtualFlag adds --virtual-time (emulator only).
func (a *app) virtualFlag(fs *flag.FlagSet) {
	fs.BoolVar(&a.virtual, "virtual-time", a.env("TWOSTAGE_VIRTUAL_TIME") == "true", "local play only: run bakes and gate waits on simulated time, so a 5-minute bake takes no wall time (default $TWOSTAGE_VIRTUAL_TIME == true, for workflows run against the emulator)")
}

// finish prints the result or the error and returns the exit code.
func (a *app) finish(res any, err error) int {
	code := exitCode(err)
	if a.audit != nil {
		if cerr := a.audit.Close(); cerr != nil && err == nil {
			err, code = cerr, exitFailed
		}
	}
	if a.backend != nil {
		a.backend.Close()
	}
	a.writeGitHub(err)
	if a.json {
		out := map[string]any{"command": a.command, "exitCode": code}
		if t, ok := res.(interface{ FailureText() string }); res != nil && (err == nil || ok && t.FailureText() != "") {
			// On failure only a result that tells what is true.
			out["result"] = res
		}
		if err != nil {
			out["error"] = err.Error()
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err != nil {
			out["error"] = errorText(err)
		}
		if eerr := enc.Encode(out); eerr != nil {
			fmt.Fprintf(a.stderr, "twostage: writing JSON: %v\n", eerr)
			return exitFailed
		}
	} else if t, ok := res.(interface{ Text() string }); ok && res != nil && err == nil {
		fmt.Fprint(a.stdout, t.Text())
	} else if t, ok := res.(interface{ FailureText() string }); ok && res != nil {
		// On failure stdout tells only what is true: where a rollout
		// ended (rolled back, paused), never a half-filled success block.
		fmt.Fprint(a.stdout, t.FailureText())
	}
	if err != nil {
		msg := errorText(err)
		if a.gh.Actions {
			// The annotation is the log line: the error is printed once.
			ghactions.Error(a.stderr, "twostage "+a.command, msg)
		} else {
			fmt.Fprintf(a.stderr, "twostage %s: %s\n", a.command, msg)
		}
		if code == exitUsage {
			fmt.Fprintf(a.stderr, "run `twostage %s -h` for help\n", a.command)
		}
	}
	return code
}

// errorText is err's message with the sentinel's words said once
// ("…: refused by policy: refused by policy" when a refusal wraps a
// refusal).
func errorText(err error) string {
	msg := err.Error()
	// The library names its options; a CLI user sets keys of
	// twostage.yaml or flags instead.
	msg = strings.NewReplacer(
		" (WithBranch)", " (branch: in twostage.yaml)",
		"WithBranch: ", "branch: ",
		"pass WithRegistryOptions", "run in GitHub Actions with id-token: write",
		"pipeline: WithDevOverrides: ", "settings.dev: ",
		"pipeline: WithProdOverrides: ", "settings.prod: ",
	).Replace(msg)
	msg = strings.TrimSuffix(msg, ": "+errUsage.Error())
	for _, s := range []error{twostage.ErrPolicy, twostage.ErrInvalid, twostage.ErrConflict, twostage.ErrNotFound} {
		dup := ": " + s.Error() + ": " + s.Error()
		for strings.Contains(msg, dup) {
			msg = strings.ReplaceAll(msg, dup, ": "+s.Error())
		}
	}
	return msg
}

// writeGitHub writes the step outputs and the job summary.
func (a *app) writeGitHub(err error) {
	if a.gh.OutputFile != "" && len(a.outputs) > 0 {
		if werr := ghactions.WriteOutputs(a.gh.OutputFile, a.outputs); werr != nil {
			fmt.Fprintf(a.stderr, "twostage: %v\n", werr)
		}
	}
	if a.gh.SummaryFile == "" {
		return
	}
	events := a.events.Events()
	if len(events) == 0 && err == nil && a.summaryNote == "" {
		return
	}
	md := ghactions.Summary("twostage "+a.command, events)
	if err != nil {
		md += fmt.Sprintf("**Failed** (exit %d): %s\n\n", exitCode(err), strings.ReplaceAll(errorText(err), "\n", " "))
	}
	md += a.summaryNote
	if a.gh.RunURL != "" {
		md += fmt.Sprintf("[workflow run](%s)\n\n", a.gh.RunURL)
	}
	if werr := ghactions.AppendSummary(a.gh.SummaryFile, md); werr != nil {
		fmt.Fprintf(a.stderr, "twostage: %v\n", werr)
	}
}

// output records a GitHub Actions step output.
func (a *app) output(k, v string) {
	if a.outputs == nil {
		a.outputs = map[string]string{}
	}
	a.outputs[k] = v
}

// group starts a ::group:: in CI; the returned func ends it.
func (a *app) group(title string) func() {
	if !a.gh.Actions {
		return func() {}
	}
	ghactions.Group(a.stderr, title)
	return func() { ghactions.EndGroup(a.stderr) }
}

// load reads the configuration.
func (a *app) load() error {
	cfg, err := config.Load(a.cfgPath)
	if err != nil {
		return err
	}
	a.cfg = cfg
	return nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// open loads the configuration and builds the backend and the pipeline.
func (a *app) open(ctx context.Context) (*pipeline.Pipeline, error) {
	if err := a.load(); err != nil {
		return nil, err
	}
	host := a.env(backend.EnvEmulatorHost)
	if a.virtual && host == "" {
		return nil, usagef("--virtual-time is for local play only: it makes bakes and gate waits take no time, which against a real service would defeat the gates; set %s", backend.EnvEmulatorHost)
	}
	if a.clock == nil {
		a.clock = twostage.SystemClock()
		if a.virtual {
			a.clock = fake.NewClock(time.Now())
		}
	}
	live := !a.gh.Actions && isTerminal(a.stderr)
	a.progress = progress.New(a.stderr, live, a.clock)
	plan := a.cfg.Plan()
	a.progress.SetBakes(func(step int) time.Duration {
		if step < 1 || step > len(plan.Steps) {
			return 0
		}
		return plan.Steps[step-1].Bake
	})
	clock := a.progress.Clock(a.clock)

	opts := backend.Options{Clock: clock, Logger: slog.New(slog.DiscardHandler)}
	if host != "" {
		e, err := backend.ResolveEmulatorHost(ctx, http.DefaultClient, host)
		if err != nil {
			return nil, err
		}
		opts.Emulator = &e
	}
	if a.gh.OIDC {
		ts, err := a.keyless(ctx, opts.Emulator)
		if err != nil {
			return nil, err
		}
		opts.TokenSource = ts
		a.tokenSource = ts
	}
	b, err := backend.Open(ctx, a.cfg, opts)
	if err != nil {
		return nil, err
	}
	a.backend = b

	sinks := multiSink{&a.events, a.progress, sinkFunc(a.hook)}
	if a.cfg.Audit.Log != "" {
		name := a.cfg.Audit.Log
		if !filepath.IsAbs(name) {
			name = filepath.Join(filepath.Dir(a.cfgPath), name)
		}
		s, err := auditlog.Open(name, a.gh.RunURL)
		if err != nil {
			return nil, err
		}
		a.audit = s
		sinks = append(sinks, s)
	}
	a.popts = []pipeline.Option{
		pipeline.WithBranch(a.cfg.Branch),
		pipeline.WithTagPattern(a.cfg.TagPattern()),
		pipeline.WithPlan(a.cfg.Plan()),
		pipeline.WithRolloutOptions(traffic.WithInterval(a.cfg.Rollout.GateInterval.D())),
		pipeline.WithAwaitTimeout(a.cfg.Release.AwaitTimeout.D()),
		pipeline.WithCreateProd(),
		pipeline.WithAudit(sinks),
		pipeline.WithClock(clock),
	}
	if o := a.cfg.Settings.Dev.Overrides(); !o.IsZero() {
		a.popts = append(a.popts, pipeline.WithDevOverrides(o))
	}
	if o := a.cfg.Settings.Prod.Overrides(); !o.IsZero() {
		a.popts = append(a.popts, pipeline.WithProdOverrides(o))
	}
	if a.cfg.Release.SignedTags {
		a.popts = append(a.popts, pipeline.WithSignedTags(pipeline.TagVerifierFunc(a.verifyTag)))
	}
	if s := a.cfg.Release.Smoke; s != nil {
		a.popts = append(a.popts, pipeline.WithVerifiers(pipeline.HTTPCheck{Path: s.Path, WantStatus: s.Status, BodyContains: s.Contains, Clock: clock}))
	}
	for i, name := range a.cfg.Regions() {
		// Gates keep per-rollout state (failed checks of a candidate), so
		// each region gets its own.
		gates, err := a.gates(ctx, clock, name, b.Prods[i])
		if err != nil {
			return nil, err
		}
		p, err := pipeline.New(b.Registry, b.Repository, b.Dev, b.Prods[i], append(a.popts, pipeline.WithGates(gates...))...)
		if err != nil {
			return nil, err
		}
		a.regions = append(a.regions, region{name: name, prod: b.Prods[i], pipe: p})
	}
	return a.regions[0].pipe, nil
}

// region is the prod service in one region and its pipeline.
type region struct {
	name string
	prod *cloudrun.Service
	pipe *pipeline.Pipeline
}

// sinkFunc is a Sink of a function.
type sinkFunc func(pipeline.AuditEvent)

func (f sinkFunc) Record(_ context.Context, e pipeline.AuditEvent) error {
	f(e)
	return nil
}

// hook passes a pipeline event to a.onEvent, if set.
func (a *app) hook(e pipeline.AuditEvent) {
	if a.onEvent != nil {
		a.onEvent(e)
	}
}

// multiSink fans events out.
type multiSink []pipeline.Sink

func (m multiSink) Record(ctx context.Context, e pipeline.AuditEvent) error {
	var errs []error
	for _, s := range m {
		errs = append(errs, s.Record(ctx, e))
	}
	return errors.Join(errs...)
}

// actor is who acts: GITHUB_ACTOR, else the local user.
func (a *app) actor(flagValue string) string {
	for _, v := range []string{flagValue, a.gh.Actor, a.env("USER"), a.env("USERNAME")} {
		if v != "" {
			return v
		}
	}
	return "unknown"
}
