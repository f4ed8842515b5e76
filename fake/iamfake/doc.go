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
//	srv := iamfake.NewServer(iamfake.WithProject("my-proj", "123456789012"))
//	defer srv.Close()
//	svc, err := iam.NewService(ctx, srv.ClientOptions()...)
package iamfake
