// Package wfharness runs GitHub Actions workflows on this machine, for
// tests: it parses a workflow with actionlint's parser, simulates an event
// (push to a branch or of a tag, workflow_dispatch with inputs, schedule)
// with the GITHUB_* environment and per-step GITHUB_OUTPUT and
// GITHUB_STEP_SUMMARY files, evaluates `if:` and the `${{ }}` expressions
// (the github, inputs, env, steps, needs, runner and job contexts; the
// status functions and contains, startsWith, endsWith, format, toJSON),
// runs every `run:` step in bash in order and stands in for each `uses:`
// step with a local equivalent (see [Runner.Uses]). Composite actions found
// on disk (the twostage action) run step by step the same way.
//
// What it cannot do is checked as data instead: concurrency groups and
// environments are returned in [JobResult] for the test to judge (see
// [Concurrency]); there is no queue, no required reviewer, no runner
// image, and jobs run one after another in dependency order.
package wfharness
