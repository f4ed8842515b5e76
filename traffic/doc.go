// Package traffic models how a service's requests are split across its
// revisions, and moves that split safely.
//
// A [Split] is a list of [Target]s plus an optimistic-concurrency Version and
// the rollout engine's State. A [Router] reads and conditionally writes a
// split. Pure functions ([Validate], [Pin], [Route], [Shift], [RouteAll],
// [SetTag], [RemoveTag], [TagOf], [Shares], [Normalize], [Equal], [Diff])
// compute new splits without I/O, so every traffic change can be checked and
// shown before it is made. A [Plan] of [Step]s, gated by [Gate]s,
// drives a progressive rollout that records its progress in Split.State in
// the same write as the traffic change, so a crashed runner can resume:
// see [Rollout].
//
// # Optional interfaces
//
// A Router or a Gate may do more, detected with a type assertion:
//
//   - [Namer]: a router that knows its service name, so the rollout skips
//     the tags that do not fit beside it;
//   - [Stopper]: a gate that runs something for the rollout's duration,
//     stopped by pipeline.Pipeline.Promote when it returns.
//
// The Cloud Run implementation of Router is in package stage/cloudrun; an
// in-memory one is fake.Service.
package traffic
