// Package cloudrunfake is an in-process emulator of the Cloud Run Admin API
// v2, served over real gRPC on loopback, for testing code built on
// cloud.google.com/go/run/apiv2 without a Google Cloud project. There is no
// official Cloud Run emulator.
//
// NewServer starts it; ClientOptions connects the official clients:
//
//	srv, err := cloudrunfake.NewServer()
//	defer srv.Close()
//	services, err := run.NewServicesClient(ctx, srv.ClientOptions()...)
//
// One grpc.Server serves google.cloud.run.v2.Services (with the IAM
// methods), google.cloud.run.v2.Revisions and google.longrunning.Operations,
// so the gapic long-running-operation client polls over the same
// connection. Anything else answers codes.Unimplemented, and so does any
// request field the emulator does not emulate (show_deleted,
// multi_region_settings, build_config; an operation filter other than on
// done is INVALID_ARGUMENT): never a silent success.
//
// # What it emulates
//
// Every rule cites its source in the code: a field comment of the runpb
// .pb.go files (authoritative), a documented error text or a public report;
// the rules without one are gathered in the Fidelity section below.
//
// The emulator keeps its own, deliberately independent copy of Cloud Run's
// rules (reserved label namespaces, label and name validation, the limits
// on names and tags): it is the oracle that the conformance suites
// (stage/stagetest, traffic/traffictest) hold package fake and
// stage/cloudrun against, so it never imports the code it tests and must
// not be "simplified" into sharing their rules.
//
//   - Create/Get/List/Update/DeleteService with long-running operations whose
//     metadata and response are the Service (DeleteService: the deleted
//     Service with delete_time). By default an operation is returned already
//     done, so Operation.Wait makes no GetOperation call; WithManualOperations
//     keeps it pending (the service "reconciling") until CompleteOperation or
//     CompleteOperations.
//   - Etags change on every write; a stale non-empty etag is ABORTED
//     (AIP-154 since 2021; which code Cloud Run answers is unverified, so
//     WithConflictCode(codes.FailedPrecondition) tries the other one, and
//     stage/cloudrun accepts both).
//     generation grows on every change of the desired state;
//     observed_generation, latest_ready_revision, traffic_statuses and
//     terminal_condition follow the Service.reconciling comment.
//   - A change to the template creates a revision named template.revision
//     or "<service>-<generation, 5 digits>-<3 letters>". A revision name
//     reused with a different template is ALREADY_EXISTS "Revision named
//     'NAME' with different configuration already exists."; with the same
//     template no revision is made. force_new_revision always makes one.
//   - A revision that fails (WithFailingImage, FailRevision) ends the
//     operation with FAILED_PRECONDITION "Revision 'NAME' is not ready and
//     cannot serve traffic. MESSAGE"; terminal_condition is FAILED,
//     latest_created_revision moves, latest_ready_revision and traffic do not.
//   - Traffic validation: percents 0..100 adding up to 100, LATEST names no
//     revision, REVISION names an existing one (or the one this write
//     creates), tags are unique DNS labels and len(tag)+len(service) ≤ 46.
//     traffic_statuses resolve LATEST and give tagged entries
//     "https://TAG---SERVICE-HASH-REGIONCODE.a.run.app".
//   - Labels and annotations under run.googleapis.com, cloud.googleapis.com,
//     serving.knative.dev and autoscaling.knative.dev are INVALID_ARGUMENT.
//   - Revisions: Get, List (newest first, paginated, "-" for every service
//     of a region), Delete of a revision without traffic or tag.
//   - IAM policies per service with etags; a write quota per region
//     (WithWriteQuota); error and latency injection per method
//     (WithErrorInjection, InjectError, WithLatency); a request log
//     (Requests, Count).
//
// # Data plane
//
// The server's address also serves HTTP ([Server.DataPlane]; gRPC is told
// apart by HTTP/2 with Content-Type application/grpc): a request whose Host
// is a service URL's is routed to a revision drawn with the percents of
// traffic_statuses (the serving state: runpb Service.reconciling says a
// failed reconciliation leaves traffic_statuses on the last serving state),
// a tag URL's Host reaches the tagged revision, any other Host is 404.
// [NewHTTPClient] sends *.run.app requests there; [Server.InProcessClient]
// serves them without a network, for tests on simulated time. The revision is chosen
// when the request arrives, so a request in flight during a traffic write
// ends on the revision it started on. A revision is served by, in order, a
// handler registered for its image ([WithHandler], [Server.HandleImage]);
// the image from [WithImageSource]: its entrypoint run as a local process
// with the container contract's PORT, K_SERVICE, K_REVISION and
// K_CONFIGURATION (https://cloud.google.com/run/docs/container-contract),
// started on the first request and stopped after [WithIdleTimeout] and on
// Close, output in [Server.Output]; or its files, from its working
// directory. An entrypoint that is not an executable for this machine fails
// the revision like WithFailingImage. With [WithMonitoring] every routed
// request is recorded as run.googleapis.com/request_count and
// request_latencies (package fake/monitoringfake). [ProfileHeader] scripts
// errors and latency per revision for load tests.
//
// Data plane fidelity. Emulated with a source: routing by traffic percents
// and tags, tag URLs (runpb TrafficTargetStatus.uri), the container
// contract's variables, request_count's and request_latencies' labels
// (https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-run). Not
// emulated or unverified: the real router's randomness (Cloud Run does not
// document how it splits; the emulator draws each request independently),
// session affinity, concurrency limits, autoscaling and cold-start
// latency, request timeouts, the 32 MiB request limit, IAM on invocations
// (every request is allowed), HTTPS (plain HTTP only), HTTP/2 end to end,
// websockets through processes, the idle time of instances (15 minutes
// here), images that cannot be pulled (ready here, answering 503), an
// entrypoint missing from its image (its files are served), the latency
// measured (from routing to the handler's return, on the wall clock) and
// the time a response counts at (the end, on the emulator's clock).
//
// The service URI is "https://SERVICE-HASH-REGIONCODE.a.run.app": HASH is
// ten characters derived from the project and service names (stable across
// runs; the real one is assigned by Google), REGIONCODE the short region code
// ("uc" for us-central1).
//
// With WithManualOperations, a write is applied at once (spec, generation,
// etag, a pending revision) and its reconciliation runs when its operation
// completes; complete operations in creation order for realistic states. A
// DeleteService or DeleteRevision removes the resource at once and only its
// operation waits.
//
// The program in fake/cmd/emulator serves this emulator standalone.
//
// The emulator keeps all state in memory behind one mutex and is safe for
// concurrent use; messages are copied on the way in and out.
// # Fidelity
//
// IAM (WithIAM, on by default in fake/emulators): each call's bearer
// token is resolved to a principal and the method's permission (Cloud
// Run's IAM permissions reference: run.services.get/list/create/update/
// delete/getIamPolicy/setIamPolicy, run.revisions.get/list/delete) is
// checked against the service's policy and its project's; a create or an
// update whose template names a service account also needs
// iam.serviceAccounts.actAs on it. Denials are PERMISSION_DENIED
// "Permission 'P' denied on resource 'R' (or it may not exist).", the form
// Google's APIs answer; the role → permission table is in
// internal/emulator (roles.go, with its sources; the basic roles are
// approximated). Not checked: Operations (the shared Operations service
// cannot tell Cloud Run's from Artifact Registry's), TestIamPermissions
// (it grants every permission asked for) and the data plane
// (run.routes.invoke).
//
// Server defaults and output-only fields (issue 16): launch_stage GA when
// unset ("If no value is specified, GA is assumed") and ingress
// INGRESS_TRAFFIC_ALL, stored so that sending them back changes nothing;
// creator and last_modifier name the caller when IAM is enforced (its
// token's email; empty otherwise); uri "https://SERVICE-HASH-CODE.a.run.app"
// with one HASH per project (GoogleCloudPlatform/cloud-run-mcp #16; how
// Google derives it is unknown) and, with WithProjectNumber, urls also
// "https://SERVICE-NUMBER.REGION.run.app" (Cloud Run's deterministic URL);
// revisions get concurrency 80 (1 below one CPU), timeout 300s and the
// project's default service account NUMBER-compute@developer.gserviceaccount.com
// (RevisionTemplate comments; the timeout from the request-timeout docs);
// a deleted revision's expire_time is its delete_time (the real delay is
// unverified). The template defaults are stored in the service's template
// too (that GetService shows them is unverified), so a template rebuilt
// from a revision is the same configuration. UpdateService honours an
// update_mask (AIP-134: only the named fields change; "*" all; an unknown
// path is INVALID_ARGUMENT). Beyond 1,000 revisions (WithMaxRevisions) the
// oldest unused ones are deleted ("If you exceed that limit, older
// revisions are automatically deleted").
//
// REST/JSON: the emulator's address (and the shared one of fake/emulators)
// also answers the API's REST paths, transcoded from the google.api.http
// annotations into the same gRPC methods (connectrpc.com/vanguard), so
// the official REST clients (NewXxxRESTClient with endpoint
// "http://HOST:PORT") work and see the same behaviour, request log and
// injected faults, with errors in Google's JSON error shape. Unverified:
// the transcoder's own errors (malformed JSON, unknown query parameters,
// a wrong HTTP method: 405 here), unknown JSON fields (dropped here),
// partial responses ("fields") and error details, which are not emulated.
//
// Sources of the quoted error texts: "Revision 'NAME' is not ready and
// cannot serve traffic. …" with code 9 (FAILED_PRECONDITION) in
// transparency-dev/tesseract issue #413; "Revision 'NAME' does not exist or
// is deleted. Update all traffic to route to currently available
// revisions." (code 13, as the operation's error of an accepted request)
// in terraform-google-modules/terraform-docs-samples PR #269; a reused revision name with another configuration answering
// 409 ALREADY_EXISTS "Revision named '…' …" in
// hashicorp/terraform-provider-google issue #14569 and
// googleapis/google-cloud-python issue #11870; the 46-character tag rule in
// PolicyEngine/policyengine-api issue #3729. An operation returned done
// completes the gapic client's Wait without polling (the longrunning
// client's documented behaviour).
//
// Unverified: these are choices where no authoritative source was at hand;
// code that depends on them may see the real API differ:
//   - error texts other than those quoted from the API: "Revision named …
//     with different configuration already exists.", "Revision '…' is not
//     ready and cannot serve traffic. …", "Revision '…' does not exist or is
//     deleted. Update all traffic to route to currently available
//     revisions." and the 46-character rule's;
//   - a failed reconciliation keeps the write's spec (template, traffic,
//     annotations) while traffic_statuses, observed_generation and
//     latest_ready_revision keep the last serving state (Service.reconciling;
//     Lore-Hex/quill-router PR #781/#782 saw the real API keep the failed
//     spec.traffic; terraform-provider-google #22565 sees no diff after a
//     failed deploy); clients put the old spec back (stage/cloudrun's
//     restore). WithFailedSpecRestored restores it in the emulator instead,
//     the behaviour before; that the annotations are kept too is
//     unverified;
//   - an operation fails when a target with percent > 0 names a failed
//     revision (the same report saw such a stale split fail later deploys);
//   - a template.revision must start with "SERVICE-" and be a DNS label of
//     at most 63 characters;
//   - traffic targets must have an explicit type; REVISION targets use short
//     names; empty traffic is stored as [{LATEST, 100}];
//   - template comparison ignores template.revision when the request leaves
//     it empty; a revision of the same name and configuration is adopted
//     without changing latest_created_revision, unless that one failed, in
//     which case the adopted revision becomes the latest created and ready;
//   - a write that keeps the template of a failed deploy (a traffic change
//     routing around it) succeeds; naming a failed revision again in the
//     template fails like the first deploy;
//   - reserved-namespace keys also match subdomains (x.run.googleapis.com/k),
//     and an existing reserved service annotation may be kept on update;
//   - DeleteRevision refuses a revision serving traffic or named by a tag
//     with FAILED_PRECONDITION (the refusal of the latest and of the only
//     revision is documented: cloud.google.com/run/docs/managing/revisions);
//     ListRevisions of a missing service is NOT_FOUND;
//   - the error texts of the container rules (one port, 0 < port < 65536,
//     CPU 1, 2, 4, 6, 8 or a fraction below 1 — runpb comments and Cloud
//     Run's CPU documentation) and of tags shorter than 3 characters (the
//     rule from PolicyEngine/policyengine-sim-api issue #656); the memory
//     minimums tied to CPU are not checked;
//   - SetIamPolicy with a stale etag is ABORTED (IAM's usual answer);
//     TestIamPermissions grants everything;
//   - the condition types RoutesReady and ConfigurationsReady, the log_uri
//     form, the default page size of 100, region codes beyond the common
//     ones, generated service ids;
//   - the texts of ALREADY_EXISTS for a reused name with force_new_revision
//     and for an existing service id, of an IAM binding without a role or
//     member, of the traffic validation errors other than the 46-character
//     rule, and of the write quota (Google's usual quota form).
//
// Hostile input: requests over 4 MiB answer RESOURCE_EXHAUSTED (grpc-go's
// default limit, which the emulator keeps; Google's is unverified) and a
// negative page_size INVALID_ARGUMENT (AIP-158).
package cloudrunfake
