// Package cloudrun is a Cloud Run service, reached through the official Cloud
// Run Admin API v2 client (cloud.google.com/go/run/apiv2), as a
// [stage.Stage], a [traffic.Router], a [stage.Lister] and a [stage.Namer].
//
// A [Service] deploys a [stage.Release] as one revision named
// "<service>-<suffix>" running the release's image by digest
// ("repo@sha256:…", so the digest is in the revision's spec: a v2 Revision
// reports no resolved digest). It reads the service once, keeps every other
// field of the current revision template (environment, resources, service
// account, scaling, …), and sends one UpdateService carrying the read etag.
// A re-run of the same release adopts the existing revision and writes
// nothing unless the traffic differs. [stage.RouteNone] behaves like
// "gcloud run deploy --no-traffic": whoever serves keeps serving.
//
// As a [traffic.Router] it maps a [traffic.Split] onto the service's
// traffic entries, the service etag (Split.Version) and the annotation
// [StateAnnotation] (Split.State), written in the same UpdateService.
//
// Errors wrap the sentinels of package twostage and keep the API's error,
// so status.Code still works on them. Transient failures (UNAVAILABLE,
// DEADLINE_EXCEEDED from the server, RESOURCE_EXHAUSTED) are retried with
// backoff on the injected clock; conflicts never are.
//
// # API calls
//
// Measured against the emulator's request log (TestAPIEconomy):
//
//	operation                                   reads                       writes
//	first deploy (creates the service)          GetService, GetRevision     1 UpdateService (allow_missing)
//	deploy of a new revision (all or none)      GetService, GetRevision     1 UpdateService
//	re-run of a deploy that is done             GetService, GetRevision     none
//	deploy whose revision fails (then restore)  2 GetService, GetRevision   2 UpdateService
//	Split                                       GetService                  none
//	SetSplit at the version last read/written   none                        1 UpdateService
//	SetSplit at another version                 GetService                  1 UpdateService (none if stale)
//	Revisions                                   ListRevisions/100, GetService  none
//
// SetSplit adds one GetRevision per target revision that the service does
// not already show as serving or latest ready. An operation returned done
// is never polled; a pending one is polled with GetOperation on the
// injected clock.
//
// Tests wire [New] to the in-process emulator fake/cloudrunfake through
// [WithClientOptions].
package cloudrun
