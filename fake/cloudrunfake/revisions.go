package cloudrunfake

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/twostage/twostage/internal/emulator"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// newRevision makes the Revision resource of template t for svc, pending
// (reconciling) until reconcile decides whether it is ready. The name is
// the full resource name
// "projects/P/locations/L/services/S/revisions/R" (GetRevisionRequest.name).
func (s *server) newRevision(svc *runpb.Service, short string, tmpl *runpb.RevisionTemplate, now *timestamppb.Timestamp) *runpb.Revision {
	t := proto.Clone(tmpl).(*runpb.RevisionTemplate)
	project, _, service := splitServiceName(svc.Name)
	return &runpb.Revision{
		Name:                          svc.Name + "/revisions/" + short,
		Uid:                           s.uid(),
		Generation:                    1,
		Labels:                        t.Labels,
		Annotations:                   t.Annotations,
		CreateTime:                    now,
		UpdateTime:                    now,
		LaunchStage:                   svc.LaunchStage,
		Service:                       svc.Name,
		Scaling:                       t.Scaling,
		VpcAccess:                     t.VpcAccess,
		MaxInstanceRequestConcurrency: t.MaxInstanceRequestConcurrency,
		Timeout:                       t.Timeout,
		ServiceAccount:                t.ServiceAccount,
		Containers:                    t.Containers,
		Sandboxes:                     t.Sandboxes,
		Volumes:                       t.Volumes,
		ExecutionEnvironment:          t.ExecutionEnvironment,
		EncryptionKey:                 t.EncryptionKey,
		ServiceMesh:                   t.ServiceMesh,
		EncryptionKeyRevocationAction: t.EncryptionKeyRevocationAction,
		EncryptionKeyShutdownDuration: t.EncryptionKeyShutdownDuration,
		SessionAffinity:               t.SessionAffinity,
		NodeSelector:                  t.NodeSelector,
		WorkloadIdentityConfig:        t.WorkloadIdentityConfig,
		GpuZonalRedundancyDisabled:    t.GpuZonalRedundancyDisabled,
		Client:                        t.Client,
		ClientVersion:                 t.ClientVersion,
		AmbientNetworking:             t.AmbientNetworking,
		Reconciling:                   true,
		Conditions: []*runpb.Condition{
			{Type: "Ready", State: runpb.Condition_CONDITION_RECONCILING, LastTransitionTime: now},
		},
		// The Logs Explorer link form is unverified.
		LogUri: "https://console.cloud.google.com/logs/viewer?project=" + url.QueryEscape(project) +
			"&resource=cloud_run_revision/service_name/" + service + "/revision_name/" + short,
		Etag: s.nextEtag(),
	}
}

// failure reports whether rev must fail to start (WithFailingImage,
// FailRevision) and why.
func (s *server) failure(rev *runpb.Revision) (string, bool) {
	short := rev.Name[strings.LastIndex(rev.Name, "/")+1:]
	if msg, ok := s.failNames[short]; ok {
		delete(s.failNames, short)
		return msg, true
	}
	for _, c := range rev.Containers {
		if msg, ok := s.cfg.failImages[c.GetImage()]; ok {
			return msg, true
		}
	}
	if cs := rev.GetContainers(); len(cs) > 0 {
		return s.dp.check(cs[0].GetImage()) // an entrypoint that cannot run here
	}
	return "", false
}

// setRevisionReady marks rev (a private copy) Ready: condition type
// "Ready" is "True when the Resource is ready." (Condition.type comment).
func setRevisionReady(rev *runpb.Revision, now *timestamppb.Timestamp) {
	rev.Reconciling = false
	rev.ObservedGeneration = rev.Generation
	rev.Conditions = []*runpb.Condition{
		{Type: "Ready", State: runpb.Condition_CONDITION_SUCCEEDED, LastTransitionTime: now},
	}
}

// setRevisionFailed marks rev (a private copy) failed with message.
func (s *server) setRevisionFailed(rev *runpb.Revision, message string) {
	rev.Reconciling = false
	rev.ObservedGeneration = rev.Generation
	rev.Etag = s.nextEtag()
	rev.Conditions = []*runpb.Condition{{
		Type: "Ready", State: runpb.Condition_CONDITION_FAILED, Message: message,
		LastTransitionTime: timestamppb.New(s.cfg.Clock.Now()), Severity: runpb.Condition_ERROR,
		Reasons: &runpb.Condition_Reason{Reason: runpb.Condition_REVISION_FAILED},
	}}
}

func readyCondition(rev *runpb.Revision) *runpb.Condition {
	for _, c := range rev.GetConditions() {
		if c.GetType() == "Ready" {
			return c
		}
	}
	return nil
}

func revisionReady(rev *runpb.Revision) bool {
	return readyCondition(rev).GetState() == runpb.Condition_CONDITION_SUCCEEDED
}

// GetRevision returns a revision or NOT_FOUND.
func (s *server) GetRevision(_ context.Context, req *runpb.GetRevisionRequest) (*runpb.Revision, error) {
	svcName, short, err := parseRevisionName(req.GetName())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.services[svcName].revision(short)
	if !ok {
		return nil, revisionNotFound(req.GetName())
	}
	return proto.Clone(r.rev).(*runpb.Revision), nil
}

func (st *serviceState) revision(short string) (revState, bool) {
	if st == nil {
		return revState{}, false
	}
	r, ok := st.revisions[short]
	return r, ok
}

func revisionNotFound(name string) error {
	return status.Errorf(codes.NotFound, "Resource '%s' was not found (revision does not exist)", name)
}

// ListRevisions lists a service's revisions, or with service "-" those of
// every service of the region, "sorted by creation time, descending"
// (ListRevisionsRequest.parent and Revisions.ListRevisions comments). A
// service that does not exist is NOT_FOUND (unverified).
func (s *server) ListRevisions(_ context.Context, req *runpb.ListRevisionsRequest) (*runpb.ListRevisionsResponse, error) {
	project, location, service, err := parseServiceName(req.GetParent())
	if err != nil {
		return nil, err
	}
	if req.GetShowDeleted() {
		return nil, status.Error(codes.Unimplemented, "cloudrunfake: show_deleted is not emulated (deleted revisions are forgotten at once)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []revState
	if service == "-" {
		region := "projects/" + project + "/locations/" + location + "/services/"
		for name, st := range s.services {
			if strings.HasPrefix(name, region) {
				all = append(all, st.sortedRevisions()...)
			}
		}
		slices.SortFunc(all, func(a, b revState) int { return -cmpUint(a.seq, b.seq) })
	} else {
		st, ok := s.services[req.GetParent()]
		if !ok {
			return nil, serviceNotFound(req.GetParent())
		}
		all = st.sortedRevisions()
	}
	items, next, err := emulator.Page(all, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &runpb.ListRevisionsResponse{NextPageToken: next}
	for _, r := range items {
		resp.Revisions = append(resp.Revisions, proto.Clone(r.rev).(*runpb.Revision))
	}
	return resp, nil
}

// DeleteRevision deletes a revision that serves no traffic and has no tag:
// one that does is FAILED_PRECONDITION (rule and text unverified). The
// operation's metadata and response are the Revision.
func (s *server) DeleteRevision(_ context.Context, req *runpb.DeleteRevisionRequest) (*longrunningpb.Operation, error) {
	svcName, short, err := parseRevisionName(req.GetName())
	if err != nil {
		return nil, err
	}
	project, location, service := splitServiceName(svcName)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkQuota(project, location); err != nil {
		return nil, err
	}
	st := s.services[svcName]
	r, ok := st.revision(short)
	if !ok {
		return nil, revisionNotFound(req.GetName())
	}
	if err := s.checkEtag("revision", req.GetName(), req.GetEtag(), r.rev.Etag); err != nil {
		return nil, err
	}
	// "You cannot delete the latest revision of a service, or a revision
	// that is serving traffic" — the rules Cloud Run's revision
	// documentation gives (cloud.google.com/run/docs/managing/revisions,
	// as applied in stackshy/cloudemu PR #1074): the latest created
	// revision and the only revision cannot be deleted.
	if shortName(st.svc.GetLatestCreatedRevision()) == short || len(st.revisions) == 1 {
		return nil, status.Errorf(codes.FailedPrecondition, "revision %q is the latest or the only revision of service %q and cannot be deleted; deploy another revision first", short, service)
	}
	if why := inUse(st.svc, short); why != "" {
		return nil, status.Errorf(codes.FailedPrecondition, "revision %q %s; route its traffic and tags elsewhere first", short, why)
	}
	gone := proto.Clone(r.rev).(*runpb.Revision)
	gone.DeleteTime = timestamppb.New(s.cfg.Clock.Now())
	// Revision.expire_time: "For a deleted resource, the time after which
	// it will be permamently deleted. It is only populated as a response
	// to a Delete request." A revision is gone at once here (the real
	// delay is unverified).
	gone.ExpireTime = gone.DeleteTime
	if req.GetValidateOnly() {
		return s.doneOperation(project, location, gone, gone), nil
	}
	delete(st.revisions, short)
	return s.startOperation(project, location, gone, nil, gone), nil
}

// inUse says why a revision may not be deleted, or "".
func inUse(svc *runpb.Service, short string) string {
	latestReady := shortName(svc.GetLatestReadyRevision())
	for _, list := range [][]*runpb.TrafficTarget{svc.GetTraffic(), statusTargets(svc.GetTrafficStatuses())} {
		for _, t := range list {
			rev := t.GetRevision()
			if t.GetType() == typeLatest {
				rev = latestReady
			}
			if rev != short {
				continue
			}
			if t.GetPercent() > 0 {
				return "serves traffic"
			}
			if t.GetTag() != "" {
				return "is referenced by traffic tag " + strconv.Quote(t.GetTag())
			}
		}
	}
	return ""
}

func statusTargets(in []*runpb.TrafficTargetStatus) []*runpb.TrafficTarget {
	out := make([]*runpb.TrafficTarget, len(in))
	for i, t := range in {
		out[i] = &runpb.TrafficTarget{Type: t.GetType(), Revision: t.GetRevision(), Percent: t.GetPercent(), Tag: t.GetTag()}
	}
	return out
}
