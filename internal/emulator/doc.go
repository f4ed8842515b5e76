// Package emulator is the kit every twostage emulator in fake/...
// (cloudrunfake, artifactregistryfake, iamfake, monitoringfake,
// resourcemanagerfake, stsfake) is built on, written once so that each
// emulator holds only its API's behaviour and all six offer the same
// surface (see package fake/emulation):
//
//   - [Options] are the shared settings (address, listener, clock, logger,
//     error and latency injection, request-log size) that each emulator's
//     With... options set; [NewKit] turns them into a [Kit]: a request
//     [Log] with per-method counts and [Faults], which inject errors and
//     latency by method name (latency waits on the injected clock, so no
//     test sleeps).
//   - gRPC: [Kit.Registrar] puts the log and the faults around every unary
//     method of the services an emulator registers, on any
//     grpc.ServiceRegistrar, so an emulator behaves the same on its own
//     server ([Listen]) and mounted on a shared one; [Mux] lets several
//     emulators register the same service (each serves
//     google.longrunning.Operations for its own operations).
//   - HTTP: [Kit.HTTP] is the same log and faults as middleware, by a REST
//     method name a router gives each request; [ListenHTTP] serves a
//     handler on loopback; [WriteGoogleError] answers an error in Google's
//     JSON error shape with the HTTP status of its gRPC code
//     ([HTTPStatus]).
//
// Users must not import it; the emulators' exported APIs wrap it and
// mention none of its types.
package emulator
