// Package cloudrun is a Cloud Run service, reached through the official Cloud
// Run Admin API v2 client (cloud.google.com/go/run/apiv2), as a
// [stage.Stage], a [traffic.Router], a [stage.Lister] and a [stage.Namer].
//
// A [Service] deploys a [stage.Release] as one revision named
// "<service>-<suffix>" running the release's image by digest
// ("repo@sha256:…", so the digest is in the revision's spec: a v2 Revision
// reports no resolved digest). It keeps every other field of the current
// revision template (environment, secrets, volumes, resources, service
// account, scaling, probes, VPC access, …) except the settings the release's
// [stage.Overrides] name, and sends one UpdateService carrying the etag of
// the service as last read. A re-run of the same release (same image,
// labels and overrides) adopts the existing revision and writes nothing
// unless the traffic differs. [stage.RouteNone] behaves like
// "gcloud run deploy --no-traffic": whoever serves keeps serving.
//
// As a [traffic.Router] it maps a [traffic.Split] onto the service's
// traffic entries, the service etag (Split.Version) and the annotation
// [StateAnnotation] (Split.State), written in the same UpdateService. It is
// also a [stage.Getter] (one revision), a [stage.Drifter] (the declared
// overrides against the live template) and a [stage.Deleter] (pruning).
//
// Errors wrap the sentinels of package twostage and keep the API's error,
// so status.Code still works on them. Transient failures (UNAVAILABLE,
// DEADLINE_EXCEEDED from the server, RESOURCE_EXHAUSTED) are retried with
// backoff on the injected clock; conflicts never are.
//
// # API calls
//
// Measured against the emulator's request log (TestAPIEconomy). A Service
// remembers the service as it last read or wrote it; "same Service" rows
// start from that copy, "new Service" rows are another process's first
// call:
//
//	operation                                          reads                      writes
//	first deploy (creates the service)                 GetService (NOT_FOUND)     1 UpdateService (allow_missing)
//	dev deploy, same Service                           none                       1 UpdateService
//	dev deploy, new Service                            GetService                 1 UpdateService
//	release (RouteNone) right after Split              none (Split: GetService)   1 UpdateService
//	deploy from a stale copy (another writer)          GetService                 1 refused + 1 UpdateService
//	re-run of a deploy that is done                    GetService, GetRevision    none
//	deploy whose revision fails                        GetService, GetRevision    2 UpdateService (the deploy, the restore)
//	RouteAll re-deploy of a revision not in traffic    GetRevision                2 UpdateService
//	Split                                              GetService                 none
//	SetSplit at the version last read/written          none                       1 UpdateService
//	SetSplit at another version                        GetService                 1 UpdateService (none if stale)
//	Revision (stage.Getter)                            GetRevision                none
//	Drift (stage.Drifter)                              GetService                 none
//	DeleteRevision (stage.Deleter)                     none                       1 DeleteRevision (+ GetOperation while pending)
//	Revisions                                          ListRevisions/100, GetService  none
//
// SetSplit adds one GetRevision per target revision that the service does
// not already show as serving or latest ready. An operation returned done
// is never polled; a pending one is polled with GetOperation on the
// injected clock. A failed deploy reads the service once more and, as
// Cloud Run keeps a failed write's spec (its template names the failed
// revision, its traffic is the write's, while traffic_statuses keep
// serving the old revision), writes the previous template and traffic
// back.
//
// Tests wire [New] to the in-process emulator fake/cloudrunfake through
// [WithClientOptions].
package cloudrun
