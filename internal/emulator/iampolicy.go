package emulator

import (
	"bytes"

	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// SetPolicy returns the policy a SetIamPolicy request stores over cur (nil:
// none yet), stamped with etag, following google.iam.v1: the request's
// bindings replace cur's; its audit_configs do only when the update_mask
// names them ("If no mask is provided, the following default mask is
// used: paths: "bindings, etag""); a request policy whose etag is set and
// differs from cur's is ABORTED, as IAM answers concurrent policy changes
// ("There were concurrent policy changes…", the text IAM's clients retry
// on; unverified for each API); a binding needs a role and a member. The
// result is a new message; neither argument is modified.
func SetPolicy(emulatorName string, cur *iampb.Policy, req *iampb.SetIamPolicyRequest, etag string) (*iampb.Policy, error) {
	if req.GetPolicy() == nil {
		return nil, status.Error(codes.InvalidArgument, "policy is required")
	}
	for _, path := range req.GetUpdateMask().GetPaths() {
		switch path {
		case "bindings", "etag", "audit_configs", "auditConfigs", "version":
		default:
			return nil, status.Errorf(codes.InvalidArgument, "%s: update_mask path %q: a policy's fields are bindings, etag, audit_configs and version", emulatorName, path)
		}
	}
	for i, b := range req.GetPolicy().GetBindings() {
		if b.GetRole() == "" || len(b.GetMembers()) == 0 {
			return nil, status.Errorf(codes.InvalidArgument, "policy.bindings[%d]: a binding needs a role and at least one member", i)
		}
	}
	if e := req.GetPolicy().GetEtag(); len(e) > 0 && !bytes.Equal(e, cur.GetEtag()) {
		return nil, status.Error(codes.Aborted, "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.")
	}
	p := &iampb.Policy{Version: 1}
	if cur != nil {
		p = proto.Clone(cur).(*iampb.Policy)
	}
	in := req.GetPolicy()
	p.Bindings = in.GetBindings()
	if in.GetVersion() != 0 {
		p.Version = in.GetVersion()
	}
	for _, path := range req.GetUpdateMask().GetPaths() {
		if path == "audit_configs" || path == "auditConfigs" {
			p.AuditConfigs = in.GetAuditConfigs()
		}
	}
	p = proto.Clone(p).(*iampb.Policy)
	p.Etag = []byte(etag)
	return p, nil
}
