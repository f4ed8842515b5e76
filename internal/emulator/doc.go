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
//   - REST/JSON of the gRPC services: [REST] transcodes the REST paths of
//     their google.api.http annotations (plus the Operations paths of the
//     service configurations) into calls through the grpc.Server, with
//     connectrpc.com/vanguard v0.4.0, so the Kit's interceptors (and any
//     other, such as an authorization check) apply to REST calls; [Listen]
//     serves it beside gRPC on the emulator's own address (HTTP/1.1 and
//     h2c). Responses use the proto3 JSON mapping without unset fields;
//     errors are answered in Google's JSON error shape; system parameters
//     ($alt, fields, prettyPrint, key, …) are dropped.
//
// # Fidelity of the REST surface
//
// Unverified (vanguard's behaviour, no Google source at hand): the text
// and code of errors the transcoder itself raises (a malformed JSON body,
// an unknown query parameter, a body field of the wrong type: vanguard
// answers them, mostly as INVALID_ARGUMENT or INTERNAL, where Google
// answers 400 "Invalid JSON payload received…"); unknown JSON fields are
// dropped, where Google refuses them; the response's enum encoding
// (names, whatever "$alt=json;enum-encoding=int" asks); the "fields"
// partial-response parameter and prettyPrint are ignored; error details
// (google.rpc.ErrorInfo …) are not carried into the JSON error; an HTTP
// method a path does not take answers 405 (vanguard) rather than Google's
// 404; streaming and HttpBody methods are not transcoded.
//
// Users must not import it; the emulators' exported APIs wrap it and
// mention none of its types.
package emulator
