// Package analysis judges rollout steps from request metrics: it provides the
// [Metrics] source interface and gates that implement [traffic.Gate].
//
// A [Metrics] source reports cumulative request and error counts per
// revision over a time window, and how far its data is known to be complete
// ([Counts.Through]): real metrics arrive late, and a gate must never pass a
// step on data that does not yet cover it. A source may also be a
// [LatencyMetrics] (an optional extension detected with a type
// assertion): per revision, cumulative latency [Histogram]s in Cloud
// Monitoring's distribution form, complete up to the same time.
//
// Two gates are provided:
//
//   - [Sequential], an anytime-valid sequential test of the candidate's error
//     rate against the live stable revision, after Lindon et al., "Rapid
//     Regression Detection in Software Deployments through Sequential
//     Testing" (KDD 2022). Each error is attributed to the candidate or the
//     stable; with no regression the candidate's share of errors equals its
//     share of requests. A mixture likelihood ratio over regression ratios is
//     an e-value; the step fails once it exceeds 1/α. Because the e-value is
//     a nonnegative supermartingale under the null, the gate may be asked as
//     often as one likes (every second) without inflating false rollbacks.
//     A second e-value, on the candidate's error rate against a crash
//     ceiling, rolls back releases where a large share of requests fails
//     within seconds, even from the few requests of an active [Probe].
//     A third, the historical test ([WithHistoricalTest]), judges the
//     candidate against the stable's error rate measured earlier: with the
//     stable's history before the rollout as a known baseline
//     ([WithBaseline], guarded against a change of the stable's rate) on
//     every look, against an upper confidence bound of that rate; without
//     one, at 100% (the watch of traffic.WithWatch), against the stable's
//     rate before 100%. Before the candidate takes
//     all traffic, the promotion hold ([WithPromotionHold]) keeps the last
//     step baking while the data favour a small regression, so a release
//     that is a little worse is held (and rolled back) at its share rather
//     than promoted to everyone. When its sources have latencies, a
//     fourth test, the latency test ([WithLatencyTest]), compares the
//     candidate's latency histogram with the stable's, conditioned on the
//     traffic share like the relative test: a mixture likelihood ratio
//     over the bucket counts, in the spirit of Lindon and Malek
//     ("Anytime-valid inference for multinomial count data", NeurIPS
//     2022), against a slowdown of the whole distribution or a heavier
//     tail. The tests share one false-rollback budget: each e-value over
//     its threshold is the part of α it claims, and a step fails when the
//     parts add up to 1 (a convex combination of e-values is an e-value),
//     so adding the latency test does not double the false rollbacks.
//   - [Threshold], a hard SLO: a check fails when the error rate of the
//     last interval is above a maximum with at least a minimum number of
//     requests; the gate fails after a number of failed checks. Presets
//     ([FlaggerDefaults], [ArgoDefaults], [CodeDeployDefaults], and with a
//     latency check ([WithMaxLatency]) [FlaggerRequestDuration] and
//     [ArgoLatency]) configure it
//     like the published defaults of other tools, so their users can migrate
//     and so the strategies can be compared (see examples/rolloutsim).
//
// Low traffic is always [traffic.Inconclusive], never a failure.
//
// [Probe] sends a small, bounded rate of synthetic requests to the
// candidate's and the stable's tag URLs and is itself a [Metrics] source
// with no reporting delay; give it to [Sequential] with [WithProbe], and
// wrap a primary source that also counts the probe's requests with
// [Subtract] so none is counted twice.
// [Script] is an in-memory, scripted source for tests and simulations.
// Cloud Monitoring is in package traffic/analysis/cloudmonitoring.
package analysis
