// Package emulation holds the types that every emulator in fake/...
// (cloudrunfake, artifactregistryfake, iamfake, monitoringfake,
// resourcemanagerfake, stsfake) uses in its API, so that their request logs
// and fault injection read the same:
//
//   - [Request] is one call an emulator received, as its Requests method
//     returns them;
//   - [HTTPError] is an error an HTTP emulator (iamfake, stsfake) answers
//     exactly as given, for InjectError and WithErrorInjection.
//
// Every emulator offers the same surface: NewServer(opts ...Option)
// (*Server, error), Close, Addr, ClientOptions (gRPC) or URL and Handler
// (HTTP), Register for composition in fake/emulators, and the options
// WithAddress, WithoutListener, WithClock, WithLogger, WithErrorInjection,
// WithLatency and WithMaxRequests, with the methods InjectError, Requests,
// Count and ResetRequests. A method is named by its full gRPC name
// ("/google.cloud.run.v2.Services/UpdateService") in the gRPC emulators and
// by its REST method id ("workloadIdentityPools.create") in the HTTP ones.
package emulation
