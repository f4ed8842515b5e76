// Package iamfake is an in-process emulator of the part of the IAM v1 REST
// API that google.golang.org/api/iam/v1 uses to manage workload identity
// federation and service-account IAM policies, served by an httptest server
// on loopback:
//
//   - projects.locations.workloadIdentityPools create, get, patch, list
//     (paginated) and operations.get;
//   - ….workloadIdentityPools.providers create, get, patch, list and
//     operations.get (OIDC providers);
//   - projects.serviceAccounts getIamPolicy and setIamPolicy, with etags
//     (a stale etag answers 409 ABORTED) and policy version 3 for
//     conditional bindings.
//
// Create and patch return an Operation, done at once by default; with
// [WithPendingOperations] they stay pending until polled or completed with
// [Server.CompleteOperations], so tests control completion without sleeping.
// Errors use Google's JSON error shape (ALREADY_EXISTS 409, NOT_FOUND 404,
// INVALID_ARGUMENT 400), which googleapi.CheckResponse parses. Anything else
// answers 501 UNIMPLEMENTED naming the request.
//
//	srv, err := iamfake.NewServer(iamfake.WithProject("my-proj", "123456789012"))
//	defer srv.Close()
//	svc, err := iam.NewService(ctx, srv.ClientOptions()...)
//
// Fault injection, latency and the request log are those of every emulator
// in fake/... (package fake/emulation), by REST method name:
// "workloadIdentityPools.create", ".get", ".patch", ".list",
// "workloadIdentityPools.operations.get", "providers.create", ".get",
// ".patch", ".list", "providers.operations.get",
// "serviceAccounts.getIamPolicy" and "serviceAccounts.setIamPolicy"
// ([Server.InjectError], [WithErrorInjection], [WithLatency],
// [Server.Count]). An injected gRPC status is answered in Google's JSON
// error shape with the HTTP status Google's front ends map its code to.
//
// # Fidelity
//
// Sources: pool and provider ID rules, display-name and description
// limits, attribute-mapping and condition limits, the page sizes (default
// 50, at most 1000) and the need for a condition on multi-tenant issuers
// such as GitHub are quoted from the iam/v1 field comments
// (google.golang.org/api/iam/v1); the policy-version rules from the
// OptionsRequestedPolicyVersion and Policy comments;
// [ConcurrentChangeMessage] from DataBiosphere/leonardo PR #737.
//
// Request bodies over 10 MiB answer 413 with the HTML page of Google's
// front end, reading no more than the limit (the limit and the page as
// quoted in googleworkspace/dotnet-samples issue #23 and
// googleapis/google-cloud-ruby PR #31568; the limit of this API itself is
// unverified).
//
// Unverified (no source at hand; the real API may differ):
//   - the texts of every error except [ConcurrentChangeMessage], including
//     the GitHub-condition error and "Requested entity already exists" /
//     "Requested entity was not found.";
//   - getIamPolicy of a policy with conditional bindings asked at a version
//     below 3 is refused (INVALID_ARGUMENT) rather than answered with the
//     undocumented role renaming;
//   - patch accepts both camelCase and snake_case updateMask paths;
//   - operation names "RESOURCE/operations/ID" with an ID unique across processes (its form is unverified);
//   - unknown paths answer 501 UNIMPLEMENTED (a Google front end answers
//     404).
package iamfake
