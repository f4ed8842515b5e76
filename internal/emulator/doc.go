// Package emulator is the scaffolding twostage's gRPC emulators
// (fake/cloudrunfake, fake/artifactregistryfake, fake/resourcemanagerfake)
// share, so that each emulator holds only its API's behaviour:
//
//   - [Listen] starts a grpc.Server on a loopback listener and [Server.Close]
//     stops it; [ClientOptions] points a gapic client at an address with no
//     authentication and a plain-text connection.
//   - [Log] is a request log with per-method counts, [Faults] injects errors
//     and latency by full method name (latency waits through an injectable
//     sleep, so no test sleeps), and [Chain] composes their interceptors.
//   - [Intercept] applies an emulator's interceptor to the services it
//     registers, on any grpc.ServiceRegistrar: the emulator behaves the same
//     on its own server and mounted on a shared one.
//   - [Mux] lets several emulators register the same service (each serves
//     google.longrunning.Operations for its own operations) on one server.
//
// Users must not import it; the emulators' exported APIs wrap it.
package emulator
