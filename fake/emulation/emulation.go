package emulation

import (
	"encoding/json"
	"fmt"

	"google.golang.org/grpc/codes"
)

// Request is one call an emulator received.
type Request struct {
	// Method names the method called: the full gRPC method name, such as
	// "/google.cloud.run.v2.Services/UpdateService", or the REST method id
	// of an HTTP emulator, such as "workloadIdentityPools.create" (each
	// emulator's package documentation lists them).
	Method string
	// Request is a copy of the request message of a gRPC call, or nil for
	// an HTTP call and for a gRPC method the emulator does not register.
	Request any
	// HTTP is the HTTP method and path of an HTTP call ("POST /v1/token");
	// empty for a gRPC call.
	HTTP string
	// Code is the status the emulator answered with; an HTTP answer is
	// mapped to its code (404 → NotFound, 409 → Aborted or AlreadyExists as
	// the answer says, ...).
	Code codes.Code
}

// HTTPError is an error that an HTTP emulator answers as it is: HTTP
// Status with Body encoded as JSON. Inject it to choose the exact answer;
// any other error is answered in the emulator's own error shape with the
// HTTP status of its gRPC code (status.Code).
type HTTPError struct {
	Status int
	Body   any
}

// Error returns the status and the JSON body.
func (e *HTTPError) Error() string {
	b, err := json.Marshal(e.Body)
	if err != nil {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, b)
}
