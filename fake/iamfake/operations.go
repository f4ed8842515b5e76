package iamfake

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	iam "google.golang.org/api/iam/v1"
)

type operation struct {
	op     *iam.Operation
	polls  int    // operations.get calls left before it completes
	commit func() // applies the change; guarded by server.mu
}

// newOperation records an operation for resource name whose change commit
// applies; done at once unless pending operations were asked for. Callers
// hold mu.
func (s *server) newOperation(name string, commit func() any) *iam.Operation {
	s.seq++
	op := &operation{
		op:    &iam.Operation{Name: fmt.Sprintf("%s/operations/%s", name, s.operationID())},
		polls: s.pendingPolls,
	}
	op.commit = func() {
		resp, _ := json.Marshal(commit())
		op.op.Response = resp
	}
	s.ops[op.op.Name] = op
	if op.polls <= 0 {
		s.complete(op)
	}
	return cloneOp(op.op)
}

func (s *server) complete(op *operation) {
	op.commit()
	op.op.Done = true
}

func (s *server) getOperation(name string) (int, any, *httpErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := s.ops[s.canonical(name)]
	if op == nil {
		return 0, nil, errorf(http.StatusNotFound, "Operation %q not found.", name)
	}
	if !op.op.Done {
		op.polls--
		if op.polls <= 0 {
			s.complete(op)
		}
	}
	return http.StatusOK, cloneOp(op.op), nil
}

// operationID is a new operation ID, unique across emulator processes
// (the salt is random per server), in the form of a UUID (unverified for
// IAM, whose operation IDs are opaque).
func (s *server) operationID() string {
	sum := sha256.Sum256([]byte(s.opSalt + "/" + strconv.Itoa(s.seq)))
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}
