// Package pipeline composes a registry, two stages and a traffic router into
// the two-stage release pipeline: Dev deploys every commit of the main branch
// with all traffic, Release deploys a tagged commit's very image (by digest)
// to prod with no traffic, Promote moves prod traffic to it step by step
// behind gates, and Rollback re-routes to the previous stable revision.
//
// Every action checks the release rules first (branch, tag pattern, signed
// tags, digest provenance, a safe plan) and records an audit [AuditEvent] to a
// [Sink]. The pipeline imports no cloud SDK: hand it fakes from package fake
// in tests, and the GCP implementations (stage/cloudrun,
// registry/artifactregistry) in production.
package pipeline
