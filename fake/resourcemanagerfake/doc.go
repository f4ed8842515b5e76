// Package resourcemanagerfake is an in-process emulator of the project IAM
// methods of the Cloud Resource Manager v3 API
// (google.cloud.resourcemanager.v3.Projects: GetProject, GetIamPolicy,
// SetIamPolicy), served over real gRPC on loopback so that
// cloud.google.com/go/resourcemanager/apiv3.ProjectsClient talks to it
// unchanged:
//
//	srv, err := resourcemanagerfake.NewServer(resourcemanagerfake.WithProject("my-proj", "123456789012"))
//	...
//	defer srv.Close()
//	client, err := resourcemanager.NewProjectsClient(ctx, srv.ClientOptions()...)
//
// It models what a read-modify-write of a policy depends on: an etag that
// changes on every write (a stale etag answers ABORTED), policy versions (a
// conditional binding needs version 3; a policy without conditions is
// reported as version 1), and [Server.ModifyPolicy], which a test calls
// from [WithErrorInjection]'s function to make a concurrent edit happen
// between a client's read and its write. Every other RPC answers
// UNIMPLEMENTED with the method name. Fault injection, latency and the
// request log are those of every emulator in fake/... (package
// fake/emulation), by full gRPC method name.
//
// # Fidelity
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
// Sources: PERMISSION_DENIED for a project that does not exist ("Permission
// is denied if the policy or the resource do not exist",
// ProjectsServer.GetIamPolicy); policy versions 0, 1 and 3, version 3 for
// conditional bindings and a policy without conditions reported as version
// 1 (iampb.GetPolicyOptions, iampb.Policy); no allUsers or
// allAuthenticatedUsers on a project (ProjectsServer.SetIamPolicy); audit
// configs written only when update_mask names them
// (iampb.SetIamPolicyRequest.update_mask); the text of
// [ConcurrentChangeMessage] (DataBiosphere/leonardo PR #737).
//
// Unverified (no source at hand; the real API may differ):
//   - a stale etag answered ABORTED on the gRPC surface;
//   - the role renaming of a conditional policy read at a version below 3
//     ("ROLE_withcond_XXXX");
//   - every error text other than [ConcurrentChangeMessage];
//   - the project number derived for a project seeded without one.
//
// Hostile input: requests over 4 MiB answer RESOURCE_EXHAUSTED (grpc-go's
// default limit, which the emulator keeps; Google's is unverified) and a
// negative page_size INVALID_ARGUMENT (AIP-158).
//
// IAM (WithIAM, on by default in fake/emulators): GetProject,
// GetIamPolicy and SetIamPolicy need resourcemanager.projects.get,
// .getIamPolicy and .setIamPolicy through the project's own policy; the
// role contents are internal/emulator's table (basic roles approximated:
// editor cannot set policies).
package resourcemanagerfake
