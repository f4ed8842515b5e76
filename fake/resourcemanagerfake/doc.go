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
// reported as version 1), and a hook ([Server.OnSetIamPolicy],
// [Server.ModifyPolicy]) that lets a test make a concurrent edit happen
// between a client's read and its write. Every other RPC answers
// UNIMPLEMENTED with the method name.
package resourcemanagerfake
