// Package prober runs synthetic requests against a rollout's candidate and
// stable revisions (their tag URLs) for as long as the rollout is under
// way, so that a sequential gate (traffic/analysis) gets evidence with no
// reporting delay. A [Prober] is both the [analysis.Metrics] of the probe
// under way and, through [Prober.Gate], a gate wrapper that starts and
// stops the probe with the rollout; the wrapper is a [traffic.Stopper].
//
// It was part of package pipeline (pipeline.NewProber and its
// ProberOption); it has its own package so that package pipeline has one
// Option type.
package prober
