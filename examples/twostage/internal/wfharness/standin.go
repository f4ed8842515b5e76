package wfharness

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func (r *Runner) standIn(uses string) StandIn {
	if f, ok := r.Uses[uses]; ok {
		return f
	}
	switch {
	case uses == "actions/checkout":
		return Checkout
	case strings.HasPrefix(uses, "actions/setup-"), uses == "docker/setup-buildx-action":
		return func(*Step) error { return nil }
	}
	return nil
}

// composite runs a composite action from dir/action.yml.
func (r *Runner) composite(dir string, st *Step, parent *evaluator, summary *strings.Builder) error {
	data, err := os.ReadFile(filepath.Join(dir, "action.yml"))
	if err != nil {
		return err
	}
	var md struct {
		Inputs map[string]struct {
			Default  string `yaml:"default"`
			Required bool   `yaml:"required"`
		} `yaml:"inputs"`
		Outputs map[string]struct {
			Value string `yaml:"value"`
		} `yaml:"outputs"`
		Runs struct {
			Using string `yaml:"using"`
			Steps []struct {
				ID               string            `yaml:"id"`
				If               string            `yaml:"if"`
				Name             string            `yaml:"name"`
				Uses             string            `yaml:"uses"`
				Run              string            `yaml:"run"`
				Shell            string            `yaml:"shell"`
				WorkingDirectory string            `yaml:"working-directory"`
				With             map[string]string `yaml:"with"`
				Env              map[string]string `yaml:"env"`
			} `yaml:"steps"`
		} `yaml:"runs"`
	}
	if err := yaml.Unmarshal(data, &md); err != nil {
		return fmt.Errorf("parsing %s/action.yml: %w", dir, err)
	}
	if md.Runs.Using != "composite" {
		return fmt.Errorf("%s/action.yml runs %q, not composite", dir, md.Runs.Using)
	}
	inputs := map[string]any{}
	for k, in := range md.Inputs {
		v, ok := st.With[k]
		if !ok {
			if in.Required {
				return fmt.Errorf("the action's input %q is required", k)
			}
			v = in.Default
		}
		inputs[k] = v
	}
	for k := range st.With {
		if _, ok := md.Inputs[k]; !ok {
			return fmt.Errorf("the action has no input %q", k)
		}
	}
	gh := maps.Clone(parent.ctx["github"].(map[string]any))
	gh["action_path"], gh["action_ref"] = dir, "harness"
	steps := map[string]any{}
	e := &evaluator{ctx: map[string]any{"github": gh, "inputs": inputs, "env": envAny(st.Env), "steps": steps, "runner": parent.ctx["runner"], "vars": map[string]any{}}}
	env := maps.Clone(st.Env)
	env["GITHUB_ACTION_PATH"] = dir
	for i, s := range md.Runs.Steps {
		sp := stepSpec{ID: s.ID, If: s.If, Name: s.Name, Uses: s.Uses, Run: s.Run, Shell: s.Shell, WorkingDirectory: s.WorkingDirectory, With: s.With, Env: s.Env}
		if sp.With == nil {
			sp.With = map[string]string{}
		}
		if f, ok := r.Replace[s.ID]; ok && s.ID != "" {
			if err := f(&Step{Uses: s.Uses, With: map[string]string{}, Env: env, Workspace: st.Workspace, Temp: st.Temp, Event: st.Event, Origin: st.Origin, Log: st.Log, outputs: map[string]string{}}); err != nil {
				return fmt.Errorf("composite step %s: %w", s.ID, err)
			}
			steps[s.ID] = map[string]any{"outputs": map[string]any{}, "outcome": "success", "conclusion": "success"}
			continue
		}
		sr, err := r.runSpec(i, sp, e, env, st.Workspace, st.Temp, st.Event, summary)
		if err != nil {
			return err
		}
		st.Log.Write([]byte(sr.Log))
		if sr.ExitCode != 0 {
			return exitError(sr.ExitCode)
		}
	}
	for k, o := range md.Outputs {
		v, err := e.interpolate(o.Value)
		if err != nil {
			return fmt.Errorf("output %s: %w", k, err)
		}
		st.outputs[k] = v
	}
	return nil
}

// readOutputs parses a GITHUB_OUTPUT file (NAME=VALUE and NAME<<DELIM).
func readOutputs(name string) (map[string]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if k, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(k, "=") {
			var val []string
			for sc.Scan() && sc.Text() != delim {
				val = append(val, sc.Text())
			}
			out[k] = strings.Join(val, "\n")
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out, sc.Err()
}

// Checkout stands in for actions/checkout: a repository made the way it
// makes one. It fetches the event's commit (fetch-depth 1 by default;
// with fetch-depth 0 every branch and tag as well) and, for a tag event,
// points the tag at the commit as a lightweight tag — which is how a
// signed, annotated tag arrives in a checkout (actions/checkout issues
// #290, #649, #882).
func Checkout(s *Step) error {
	ev := s.Event
	git := func(args ...string) error { return s.Run("git", args...) }
	if err := git("init", "-q"); err != nil {
		return err
	}
	if err := git("remote", "add", "origin", s.Origin); err != nil {
		return err
	}
	if s.With["fetch-depth"] == "0" {
		if err := git("fetch", "-q", "--prune", "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"); err != nil {
			return err
		}
		if err := git("fetch", "-q", "--no-tags", "origin", ev.SHA); err != nil {
			return err
		}
	} else if err := git("fetch", "-q", "--no-tags", "--depth=1", "origin", ev.SHA); err != nil {
		return err
	}
	if ev.IsTag() {
		if err := git("tag", "-f", ev.RefName(), ev.SHA); err != nil {
			return err
		}
		return git("checkout", "-q", "--detach", ev.SHA)
	}
	return git("checkout", "-q", "-B", ev.RefName(), ev.SHA)
}
