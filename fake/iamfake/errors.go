package iamfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/twostage/twostage/internal/emulator"
)

// apiError is Google's JSON error body.
type apiError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

// statusOf names the canonical status of an HTTP code as the Google error
// shape does (https://cloud.google.com/apis/design/errors).
func statusOf(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ALREADY_EXISTS"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusPreconditionFailed:
		return "FAILED_PRECONDITION"
	}
	return "INTERNAL"
}

type httpErr struct {
	code   int
	status string // default statusOf(code)
	msg    string
}

func errorf(code int, format string, args ...any) *httpErr {
	return &httpErr{code: code, msg: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		code, buf = http.StatusInternalServerError, *bytes.NewBufferString(`{"error":{"code":500,"message":"encoding response","status":"INTERNAL"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away; nothing to do.
}

func writeErr(w http.ResponseWriter, e *httpErr) {
	if e.code == http.StatusRequestEntityTooLarge {
		emulator.WriteTooLarge(w) // Google's front end answers, not the API
		return
	}
	var body apiError
	body.Error.Code = e.code
	body.Error.Message = e.msg
	body.Error.Status = e.status
	if body.Error.Status == "" {
		body.Error.Status = statusOf(e.code)
	}
	writeJSON(w, e.code, body)
}
