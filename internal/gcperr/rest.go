package gcperr

import (
	"encoding/json"
	"errors"

	"google.golang.org/api/googleapi"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// RESTError is an error of a REST (HTTP/JSON) call whose gRPC code is the
// one the response body names ({"error": {"status": "FAILED_PRECONDITION"}}),
// not the one the gapic REST client guesses from the HTTP status alone
// (apierror maps HTTP 400 to INVALID_ARGUMENT, though Google answers
// FAILED_PRECONDITION and OUT_OF_RANGE with 400 as well, and 409 to
// ABORTED, though ALREADY_EXISTS is 409 too). errors.As reaches the cause.
type RESTError struct {
	// Status is the status of the body's code and the cause's message.
	Status *status.Status
	// Cause is the client's error.
	Cause error
}

func (e *RESTError) Error() string { return e.Cause.Error() }

// Unwrap returns the cause.
func (e *RESTError) Unwrap() error { return e.Cause }

// GRPCStatus returns the status of the code the response body names.
func (e *RESTError) GRPCStatus() *status.Status { return e.Status }

// FromREST returns err as a [RESTError] when it is a REST call's
// googleapi.Error whose body names a gRPC status; other errors (nil, gRPC
// ones) are returned as they are.
func FromREST(err error) error {
	var herr *googleapi.Error
	if err == nil || !errors.As(err, &herr) {
		return err
	}
	var body struct {
		Error struct {
			Status string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(herr.Body), &body) != nil {
		return err
	}
	c, ok := code.Code_value[body.Error.Status]
	if !ok || c == 0 {
		return err
	}
	return &RESTError{Status: status.New(codes.Code(c), herr.Message), Cause: err}
}
