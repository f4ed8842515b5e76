package wfharness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/rhysd/actionlint"
)

// Event is what triggers a workflow run.
type Event struct {
	// Name is the event: "push", "workflow_dispatch" or "schedule".
	Name string
	// Ref is the git ref ("refs/heads/main", "refs/tags/v1.2.3"); SHA the
	// commit.
	Ref, SHA string
	// Inputs are workflow_dispatch's inputs (the workflow's defaults fill
	// the rest).
	Inputs map[string]string
	// Actor is who triggered it (default "octocat").
	Actor string
}

// RefName is the branch or tag name of the ref.
func (e Event) RefName() string {
	if s, ok := strings.CutPrefix(e.Ref, "refs/heads/"); ok {
		return s
	}
	s, _ := strings.CutPrefix(e.Ref, "refs/tags/")
	return s
}

// IsTag reports a tag ref.
func (e Event) IsTag() bool { return strings.HasPrefix(e.Ref, "refs/tags/") }

// StandIn does what a `uses:` step would do.
type StandIn func(s *Step) error

// Step is a step being run, as a stand-in sees it.
type Step struct {
	// Uses is the action reference without its @ref.
	Uses string
	// With are the step's inputs, expressions evaluated.
	With map[string]string
	// Env is the environment the step runs with.
	Env map[string]string
	// Workspace is GITHUB_WORKSPACE; Temp is RUNNER_TEMP.
	Workspace, Temp string
	// Event is the run's event; Origin the repository checkout clones.
	Event  Event
	Origin string
	// Log receives the step's output.
	Log io.Writer

	outputs map[string]string
}

// SetOutput sets a step output.
func (s *Step) SetOutput(k, v string) { s.outputs[k] = v }

// Run runs a command in the workspace with the step's environment.
func (s *Step) Run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = s.Workspace, environ(s.Env)
	cmd.Stdout, cmd.Stderr = s.Log, s.Log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// Runner runs workflows.
type Runner struct {
	// Origin is the git repository (a path) actions/checkout clones from.
	Origin string
	// Repository is GITHUB_REPOSITORY ("owner/name").
	Repository string
	// Env is added to every job's environment (for example
	// TWOSTAGE_EMULATOR_HOST and ACTIONS_ID_TOKEN_REQUEST_URL).
	Env map[string]string
	// Uses are the stand-ins by action ("owner/name[/path]", no @ref);
	// they override the defaults (checkout, setup-* as no-ops).
	Uses map[string]StandIn
	// Actions are composite actions on disk by action ("owner/name/path"
	// → the directory holding action.yml); their steps run like a job's.
	Actions map[string]string
	// Replace stands in for composite actions' steps, by step id.
	Replace map[string]StandIn
	// BeforeJob, if set, is called before each job runs, with its
	// environment (for example to set the OIDC claims the job gets).
	BeforeJob func(ev Event, job, environment string)
	// Dir holds the runs' workspaces (default a temporary directory).
	Dir string
	// Log receives every step's output (default discarded).
	Log io.Writer

	runs int
}

// Concurrency is a job's (or the workflow's) concurrency, evaluated.
type Concurrency struct {
	Group            string
	CancelInProgress bool
}

// Result is a workflow run.
type Result struct {
	// Order is the jobs in the order they ran (or were skipped).
	Order []string
	Jobs  map[string]*JobResult
	// Concurrency is the workflow-level concurrency, if any.
	Concurrency *Concurrency
}

// JobResult is one job.
type JobResult struct {
	// Result is "success", "failure" or "skipped".
	Result string
	// Environment is the job's GitHub Environment, if any.
	Environment string
	// Concurrency is the job's concurrency, evaluated, if any.
	Concurrency *Concurrency
	Steps       []*StepResult
	// Summary is what the steps appended to GITHUB_STEP_SUMMARY.
	Summary string
	// Log is the output of every step.
	Log string
}

// StepResult is one step.
type StepResult struct {
	Name, ID string
	Skipped  bool
	// ExitCode of a run: step (or 1 for a failed stand-in).
	ExitCode int
	Outputs  map[string]string
	Log      string
}

// Step returns the step with id or name, or nil.
func (j *JobResult) Step(idOrName string) *StepResult {
	for _, s := range j.Steps {
		if s.ID == idOrName || s.Name == idOrName {
			return s
		}
	}
	return nil
}

// Parse parses a workflow with actionlint's parser.
func Parse(content []byte) (*actionlint.Workflow, error) {
	w, errs := actionlint.Parse(content)
	if len(errs) > 0 {
		return nil, fmt.Errorf("parsing the workflow: %s (line %d)", errs[0].Message, errs[0].Line)
	}
	return w, nil
}

// Run runs the workflow for ev. An error means the harness could not run
// it; a failing job is a JobResult with Result "failure".
func (r *Runner) Run(content []byte, ev Event) (*Result, error) {
	w, err := Parse(content)
	if err != nil {
		return nil, err
	}
	if ev.Actor == "" {
		ev.Actor = "octocat"
	}
	if !triggers(w, ev.Name) {
		return nil, fmt.Errorf("the workflow is not triggered by %s", ev.Name)
	}
	if r.Dir == "" {
		if r.Dir, err = os.MkdirTemp("", "wfharness"); err != nil {
			return nil, err
		}
	}
	r.runs++
	runID := strconv.Itoa(1000 + r.runs)
	inputs := map[string]any{}
	for _, e := range w.On {
		if d, ok := e.(*actionlint.WorkflowDispatchEvent); ok && ev.Name == "workflow_dispatch" {
			for name, in := range d.Inputs {
				if in.Default != nil {
					inputs[name] = in.Default.Value
				} else {
					inputs[name] = ""
				}
			}
		}
	}
	for k, v := range ev.Inputs {
		if _, ok := inputs[k]; !ok {
			return nil, fmt.Errorf("workflow_dispatch input %q is not declared", k)
		}
		inputs[k] = v
	}
	github := map[string]any{
		"event_name": ev.Name, "ref": ev.Ref, "ref_name": ev.RefName(), "sha": ev.SHA,
		"actor": ev.Actor, "triggering_actor": ev.Actor, "repository": r.Repository, "run_id": runID,
		"run_attempt": "1", "server_url": "https://github.com", "event": map[string]any{"inputs": inputs},
		"ref_type": map[bool]string{true: "tag", false: "branch"}[ev.IsTag()],
	}
	res := &Result{Jobs: map[string]*JobResult{}}
	wenv := map[string]string{}
	top := &evaluator{ctx: map[string]any{"github": github, "inputs": inputs, "vars": map[string]any{}}}
	if err := addEnv(top, wenv, w.Env); err != nil {
		return nil, err
	}
	if c := w.Concurrency; c != nil {
		if res.Concurrency, err = concurrency(top, c); err != nil {
			return nil, err
		}
	}
	order, err := jobOrder(w)
	if err != nil {
		return nil, err
	}
	needs := map[string]any{}
	for _, id := range order {
		job := w.Jobs[id]
		jr := &JobResult{}
		res.Jobs[id], res.Order = jr, append(res.Order, id)
		jneeds := map[string]any{}
		st := status{}
		for _, n := range job.Needs {
			nr := res.Jobs[n.Value]
			jneeds[n.Value] = needs[n.Value]
			if nr.Result == "failure" {
				st.failed = true
			}
		}
		ev0 := &evaluator{ctx: map[string]any{"github": github, "inputs": inputs, "needs": jneeds, "vars": map[string]any{}}, status: st}
		cond := ""
		if job.If != nil {
			cond = job.If.Value
		}
		skippedNeed := false
		for _, n := range job.Needs {
			if res.Jobs[n.Value].Result != "success" {
				skippedNeed = true
			}
		}
		run, err := ev0.condition(cond)
		if err != nil {
			return nil, fmt.Errorf("job %s: if: %w", id, err)
		}
		if skippedNeed && !callsStatus(cond) {
			run = false
		}
		if !run {
			jr.Result = "skipped"
			needs[id] = map[string]any{"result": "skipped", "outputs": map[string]any{}}
			continue
		}
		if c := job.Concurrency; c != nil {
			if jr.Concurrency, err = concurrency(ev0, c); err != nil {
				return nil, err
			}
		}
		if e := job.Environment; e != nil && e.Name != nil {
			if jr.Environment, err = ev0.interpolate(e.Name.Value); err != nil {
				return nil, err
			}
		}
		if r.BeforeJob != nil {
			r.BeforeJob(ev, id, jr.Environment)
		}
		if err := r.runJob(id, runID, job, ev, github, inputs, jneeds, wenv, jr); err != nil {
			return nil, fmt.Errorf("job %s: %w", id, err)
		}
		needs[id] = map[string]any{"result": jr.Result, "outputs": map[string]any{}}
	}
	return res, nil
}

// callsStatus reports whether cond calls a status function other than
// success() (which lets a job whose needs did not all succeed run).
func callsStatus(cond string) bool {
	c := strings.ToLower(cond)
	return strings.Contains(c, "always()") || strings.Contains(c, "cancelled()") || strings.Contains(c, "failure()")
}

func triggers(w *actionlint.Workflow, name string) bool {
	for _, e := range w.On {
		if e.EventName() == name {
			return true
		}
	}
	return false
}

// jobOrder orders the jobs by their needs, then by name.
func jobOrder(w *actionlint.Workflow) ([]string, error) {
	ids := slices.Sorted(maps.Keys(w.Jobs))
	var out []string
	done := map[string]bool{}
	for len(out) < len(ids) {
		progress := false
		for _, id := range ids {
			if done[id] {
				continue
			}
			ready := true
			for _, n := range w.Jobs[id].Needs {
				if !done[n.Value] {
					ready = false
				}
			}
			if ready {
				out, done[id], progress = append(out, id), true, true
			}
		}
		if !progress {
			return nil, errors.New("the jobs' needs form a cycle")
		}
	}
	return out, nil
}

func concurrency(e *evaluator, c *actionlint.Concurrency) (*Concurrency, error) {
	out := &Concurrency{}
	if c.Group != nil {
		g, err := e.interpolate(c.Group.Value)
		if err != nil {
			return nil, err
		}
		out.Group = g
	}
	if c.CancelInProgress != nil {
		if c.CancelInProgress.Expression != nil {
			v, err := e.condition(c.CancelInProgress.Expression.Value)
			if err != nil {
				return nil, err
			}
			out.CancelInProgress = v
		} else {
			out.CancelInProgress = c.CancelInProgress.Value
		}
	}
	return out, nil
}

func addEnv(e *evaluator, dst map[string]string, env *actionlint.Env) error {
	if env == nil {
		return nil
	}
	if env.Expression != nil {
		return errors.New("env: as one expression is not supported by the harness")
	}
	for _, v := range env.Vars {
		s, err := e.interpolate(v.Value.Value)
		if err != nil {
			return fmt.Errorf("env %s: %w", v.Name.Value, err)
		}
		dst[v.Name.Value] = s
	}
	return nil
}

func environ(env map[string]string) []string {
	out := os.Environ()
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// runJob runs a job's steps.
func (r *Runner) runJob(id, runID string, job *actionlint.Job, ev Event, github, inputs map[string]any, needs map[string]any, wenv map[string]string, jr *JobResult) error {
	base := filepath.Join(r.Dir, "run"+runID, id)
	ws, tmp := filepath.Join(base, "workspace"), filepath.Join(base, "temp")
	for _, d := range []string{ws, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	env := maps.Clone(r.Env)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, wenv)
	maps.Copy(env, map[string]string{
		"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": ev.Name, "GITHUB_REF": ev.Ref,
		"GITHUB_REF_NAME": ev.RefName(), "GITHUB_SHA": ev.SHA, "GITHUB_ACTOR": ev.Actor,
		"GITHUB_REPOSITORY": r.Repository, "GITHUB_RUN_ID": runID, "GITHUB_SERVER_URL": "https://github.com",
		"GITHUB_WORKSPACE": ws, "RUNNER_TEMP": tmp, "GITHUB_JOB": id, "DOCKER_CONFIG": filepath.Join(tmp, ".docker"),
		"GITHUB_REF_TYPE": fmt.Sprint(github["ref_type"]),
	})
	gh := maps.Clone(github)
	gh["workspace"], gh["job"] = ws, id
	steps := map[string]any{}
	e := &evaluator{ctx: map[string]any{"github": gh, "inputs": inputs, "needs": needs, "env": envAny(env), "steps": steps, "runner": map[string]any{"temp": tmp, "os": "Linux"}, "vars": map[string]any{}}}
	if err := addEnv(e, env, job.Env); err != nil {
		return err
	}
	e.ctx["env"] = envAny(env)
	var log strings.Builder
	var summary strings.Builder
	jr.Result = "success"
	for i, s := range job.Steps {
		sr, err := r.runStep(i, s, e, env, ws, tmp, ev, &summary)
		if err != nil {
			return err
		}
		jr.Steps = append(jr.Steps, sr)
		fmt.Fprintf(&log, "--- step %s\n%s", sr.Name, sr.Log)
		if r.Log != nil {
			fmt.Fprintf(r.Log, "--- %s/%s (exit %d)\n%s", id, sr.Name, sr.ExitCode, sr.Log)
		}
		if sr.ExitCode != 0 {
			jr.Result = "failure"
			e.status.failed = true
		}
	}
	jr.Log, jr.Summary = log.String(), summary.String()
	return nil
}

func envAny(env map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// stepSpec is a step of a workflow or of a composite action.
type stepSpec struct {
	ID, If, Name, Uses, Run, Shell, WorkingDirectory string
	With, Env                                        map[string]string
}

func specOf(s *actionlint.Step) stepSpec {
	sp := stepSpec{With: map[string]string{}, Env: map[string]string{}}
	str := func(x *actionlint.String) string {
		if x == nil {
			return ""
		}
		return x.Value
	}
	sp.ID, sp.If, sp.Name = str(s.ID), str(s.If), str(s.Name)
	switch x := s.Exec.(type) {
	case *actionlint.ExecRun:
		sp.Run, sp.Shell, sp.WorkingDirectory = str(x.Run), str(x.Shell), str(x.WorkingDirectory)
	case *actionlint.ExecAction:
		sp.Uses = str(x.Uses)
		for _, in := range x.Inputs {
			sp.With[in.Name.Value] = str(in.Value)
		}
	}
	if s.Env != nil {
		for _, v := range s.Env.Vars {
			sp.Env[v.Name.Value] = v.Value.Value
		}
	}
	return sp
}

func (r *Runner) runStep(i int, s *actionlint.Step, e *evaluator, env map[string]string, ws, tmp string, ev Event, summary *strings.Builder) (*StepResult, error) {
	return r.runSpec(i, specOf(s), e, env, ws, tmp, ev, summary)
}

// runSpec runs one step: `if:`, then a run: in bash or a uses: through its
// stand-in or composite action; records it in e's steps context.
func (r *Runner) runSpec(i int, sp stepSpec, e *evaluator, env map[string]string, ws, tmp string, ev Event, summary *strings.Builder) (*StepResult, error) {
	sr := &StepResult{ID: sp.ID, Name: sp.Name, Outputs: map[string]string{}}
	if sr.Name == "" {
		sr.Name = sp.Uses
		if sr.Name == "" {
			sr.Name = fmt.Sprintf("step %d", i+1)
		}
	}
	steps := e.ctx["steps"].(map[string]any)
	record := func(outcome string) {
		if sp.ID == "" {
			return
		}
		outs := map[string]any{}
		for k, v := range sr.Outputs {
			outs[k] = v
		}
		steps[sp.ID] = map[string]any{"outputs": outs, "outcome": outcome, "conclusion": outcome}
	}
	run, err := e.condition(sp.If)
	if err != nil {
		return nil, fmt.Errorf("step %s: if: %w", sr.Name, err)
	}
	if !run {
		sr.Skipped = true
		record("skipped")
		return sr, nil
	}
	senv := maps.Clone(env)
	for k, v := range sp.Env {
		x, err := e.interpolate(v)
		if err != nil {
			return nil, fmt.Errorf("step %s: env %s: %w", sr.Name, k, err)
		}
		senv[k] = x
	}
	outFile, sumFile := filepath.Join(tmp, fmt.Sprintf("output-%s-%d", sp.ID, i)), filepath.Join(tmp, fmt.Sprintf("summary-%s-%d", sp.ID, i))
	os.WriteFile(outFile, nil, 0o644)
	os.WriteFile(sumFile, nil, 0o644)
	senv["GITHUB_OUTPUT"], senv["GITHUB_STEP_SUMMARY"] = outFile, sumFile
	var log bytes.Buffer
	switch {
	case sp.Run != "":
		script, err := e.interpolate(sp.Run)
		if err != nil {
			return nil, fmt.Errorf("step %s: run: %w", sr.Name, err)
		}
		dir := ws
		if sp.WorkingDirectory != "" {
			wd, err := e.interpolate(sp.WorkingDirectory)
			if err != nil {
				return nil, err
			}
			if dir = wd; !filepath.IsAbs(wd) {
				dir = filepath.Join(ws, wd)
			}
		}
		f := filepath.Join(tmp, fmt.Sprintf("step-%s-%d.sh", sp.ID, i))
		if err := os.WriteFile(f, []byte(script), 0o755); err != nil {
			return nil, err
		}
		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", f)
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, environ(senv), &log, &log
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				return nil, fmt.Errorf("step %s: %w", sr.Name, err)
			}
			sr.ExitCode = ee.ExitCode()
		}
	case sp.Uses != "":
		with := map[string]string{}
		for k, v := range sp.With {
			x, err := e.interpolate(v)
			if err != nil {
				return nil, fmt.Errorf("step %s: with %s: %w", sr.Name, k, err)
			}
			with[k] = x
		}
		uses, _, _ := strings.Cut(sp.Uses, "@")
		st := &Step{Uses: uses, With: with, Env: senv, Workspace: ws, Temp: tmp, Event: ev, Origin: r.Origin, Log: &log, outputs: sr.Outputs}
		var err error
		if dir, ok := r.Actions[uses]; ok {
			err = r.composite(dir, st, e, summary)
		} else if f := r.standIn(uses); f != nil {
			err = f(st)
		} else {
			return nil, fmt.Errorf("step %s: no stand-in for %s", sr.Name, uses)
		}
		if err != nil {
			fmt.Fprintf(&log, "stand-in for %s failed: %v\n", uses, err)
			if sr.ExitCode == 0 {
				sr.ExitCode = 1
			}
			var ec exitError
			if errors.As(err, &ec) {
				sr.ExitCode = int(ec)
			}
		}
	}
	outs, err := readOutputs(outFile)
	if err != nil {
		return nil, fmt.Errorf("step %s: %w", sr.Name, err)
	}
	maps.Copy(sr.Outputs, outs)
	if b, _ := os.ReadFile(sumFile); len(b) > 0 {
		summary.Write(b)
	}
	sr.Log = log.String()
	outcome := "success"
	if sr.ExitCode != 0 {
		outcome = "failure"
	}
	record(outcome)
	return sr, nil
}

// exitError is a composite action's failing step's exit code.
