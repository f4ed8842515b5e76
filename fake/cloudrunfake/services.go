package cloudrunfake

import (
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/twostage/twostage/internal/emulator"
	"google.golang.org/genproto/googleapis/api"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// revState is one stored revision.
type revState struct {
	rev  *runpb.Revision         // never mutated in place: replaced when it changes
	tmpl *runpb.RevisionTemplate // the template it was made from, revision field cleared
	seq  uint64                  // creation order
}

// serviceState is one stored service with its revisions and IAM policy.
type serviceState struct {
	svc       *runpb.Service      // mutated only under server.mu; cloned on the way out
	revisions map[string]revState // by short revision name
	policy    *iampb.Policy       // never mutated in place
	seq       uint64              // creation order
}

// clone copies st so a write can be tried and thrown away (validate_only,
// errors). Revisions and the policy are immutable, so a shallow map copy is
// enough.
func (st *serviceState) clone() *serviceState {
	return &serviceState{
		svc:       proto.Clone(st.svc).(*runpb.Service),
		revisions: maps.Clone(st.revisions),
		policy:    st.policy,
		seq:       st.seq,
	}
}

// sortedRevisions returns the revisions newest first: "Results are sorted by
// creation time, descending." (Revisions.ListRevisions comment).
func (st *serviceState) sortedRevisions() []revState {
	out := slices.Collect(maps.Values(st.revisions))
	slices.SortFunc(out, func(a, b revState) int { return -cmpUint(a.seq, b.seq) })
	return out
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// pending is the reconciliation a write leaves to its operation.
type pending struct {
	service      string                 // full service name
	newRevision  string                 // short name of the revision the write created, or ""
	tmplRevision string                 // short name of the revision the write created or adopted, or ""
	prevTraffic  []*runpb.TrafficTarget // traffic to restore if reconciliation fails
	prevSpec     *runpb.Service         // the whole spec to restore if reconciliation fails; nil for a create
	generation   int64                  // generation the write produced
}

func (s *server) next() uint64 {
	s.seq++
	return s.seq
}

// nextEtag returns a fresh opaque etag; every write gets a new one.
func (s *server) nextEtag() string {
	return "\"e" + strconv.FormatUint(s.next(), 36) + "\""
}

// uid returns a deterministic string in UUID4 form ("a UUID4 string",
// Service.uid comment).
func (s *server) uid() string {
	sum := sha256.Sum256([]byte("uid/" + strconv.FormatUint(s.next(), 10)))
	sum[6] = sum[6]&0x0f | 0x40
	sum[8] = sum[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}

// operationID returns an operation ID in UUID4 form, unique across
// emulator processes (salted by the process's random opSalt), so that a
// client that outlives one emulator never mistakes another's operation for
// its own.
func (s *server) operationID() string {
	sum := sha256.Sum256([]byte("op/" + s.opSalt + "/" + strconv.FormatUint(s.next(), 10)))
	sum[6] = sum[6]&0x0f | 0x40
	sum[8] = sum[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}

// specOf returns a copy of svc with every output-only field cleared and
// empty traffic replaced by its default: what the user asked for.
func specOf(svc *runpb.Service) *runpb.Service {
	c := proto.Clone(svc).(*runpb.Service)
	c.Name, c.Uid, c.Generation, c.Etag = "", "", 0, ""
	c.CreateTime, c.UpdateTime, c.DeleteTime, c.ExpireTime = nil, nil, nil, nil
	c.Creator, c.LastModifier = "", ""
	c.ObservedGeneration, c.TerminalCondition, c.Conditions = 0, nil, nil
	c.LatestReadyRevision, c.LatestCreatedRevision, c.TrafficStatuses = "", "", nil
	c.Uri, c.Urls, c.Reconciling = "", nil, false
	c.SatisfiesPzs, c.ThreatDetectionEnabled = false, false
	if len(c.Traffic) == 0 {
		c.Traffic = defaultTraffic()
	}
	return c
}

// withSpec returns spec with the output-only fields of cur: the service
// cur with its spec replaced. It clears the same fields specOf does.
func withSpec(cur, spec *runpb.Service) *runpb.Service {
	out := proto.Clone(spec).(*runpb.Service)
	out.Name, out.Uid, out.Generation, out.Etag = cur.Name, cur.Uid, cur.Generation, cur.Etag
	out.CreateTime, out.UpdateTime, out.DeleteTime, out.ExpireTime = cur.CreateTime, cur.UpdateTime, cur.DeleteTime, cur.ExpireTime
	out.Creator, out.LastModifier = cur.Creator, cur.LastModifier
	out.ObservedGeneration, out.TerminalCondition, out.Conditions = cur.ObservedGeneration, cur.TerminalCondition, cur.Conditions
	out.LatestReadyRevision, out.LatestCreatedRevision, out.TrafficStatuses = cur.LatestReadyRevision, cur.LatestCreatedRevision, cur.TrafficStatuses
	out.Uri, out.Urls, out.Reconciling = cur.Uri, cur.Urls, cur.Reconciling
	out.SatisfiesPzs, out.ThreatDetectionEnabled = cur.SatisfiesPzs, cur.ThreatDetectionEnabled
	return out
}

// stripRevision returns a copy of t without its revision name, for
// comparing configurations.
func stripRevision(t *runpb.RevisionTemplate) *runpb.RevisionTemplate {
	if t == nil {
		return nil
	}
	c := proto.Clone(t).(*runpb.RevisionTemplate)
	c.Revision = ""
	return c
}

type writeOpts struct {
	create bool
	force  bool   // UpdateServiceRequest.force_new_revision
	caller string // who writes (emulator.Caller), for creator and last_modifier
}

// apply validates in and writes it into st (a fresh or cloned state the
// caller commits only on success), creating a revision when the template
// changed. It leaves the service reconciling and returns what reconcile
// must finish.
func (s *server) apply(st *serviceState, in *runpb.Service, w writeOpts) (*pending, error) {
	old := st.svc
	project, location, short := splitServiceName(old.Name)
	if err := validateService(in, old, w.create); err != nil {
		return nil, err
	}
	spec := specOf(in)
	// Server defaults of the spec, stored as such so that a client that
	// sends them back changes nothing: Service.launch_stage "If no value
	// is specified, GA is assumed."; Service.ingress "On output, returns
	// the currently observed ingress settings" — INGRESS_TRAFFIC_ALL, the
	// default of `gcloud run deploy --ingress` (the state of a service with
	// no active revision, INGRESS_TRAFFIC_UNSPECIFIED, is not emulated).
	if spec.LaunchStage == api.LaunchStage_LAUNCH_STAGE_UNSPECIFIED {
		spec.LaunchStage = api.LaunchStage_GA
	}
	if spec.Ingress == runpb.IngressTraffic_INGRESS_TRAFFIC_UNSPECIFIED {
		spec.Ingress = runpb.IngressTraffic_INGRESS_TRAFFIC_ALL
	}
	s.templateDefaults(project, spec.Template)

	// A change to the template creates a revision (Service.template: "The
	// template used to create revisions for this Service");
	// force_new_revision: "a new revision will be created from the
	// template even if the system doesn't detect any changes".
	tmpl := spec.Template
	oldTmpl := old.GetTemplate()
	sameTmpl := !w.create && proto.Equal(stripRevision(tmpl), stripRevision(oldTmpl)) &&
		(tmpl.Revision == "" || tmpl.Revision == oldTmpl.GetRevision())
	created, adopted := "", ""
	if !sameTmpl || w.force {
		if tmpl.Revision != "" {
			if err := validateRevisionName(short, tmpl.Revision); err != nil {
				return nil, err
			}
			if existing, ok := st.revisions[tmpl.Revision]; ok {
				if !proto.Equal(existing.tmpl, stripRevision(tmpl)) {
					// The text reported in googleapis/google-cloud-python
					// issue #11870 (HTTP 409, ALREADY_EXISTS).
					return nil, status.Errorf(codes.AlreadyExists, "Revision named '%s' with different configuration already exists.", tmpl.Revision)
				}
				if w.force {
					return nil, status.Errorf(codes.AlreadyExists, "Revision named '%s' already exists; force_new_revision needs a new service.template.revision or an empty one", tmpl.Revision)
				}
				// Same configuration: no new revision (see Fidelity).
				adopted = tmpl.Revision
			} else {
				created = tmpl.Revision
			}
		} else {
			for attempt := 0; created == ""; attempt++ {
				n := autoRevisionName(old.Name, short, old.Generation+1, attempt)
				if _, ok := st.revisions[n]; !ok {
					created = n
				}
			}
		}
	}
	if sameTmpl && !w.force && oldTmpl.GetRevision() != "" && oldTmpl.GetRevision() != shortName(old.LatestCreatedRevision) {
		// The template names an existing revision other than the latest
		// created one: after a failed write whose spec was restored
		// (reconcile), the latest created revision is the failed one. This
		// write adopts the template's revision, so that on success
		// "latest_ready_revision and latest_created_revision" match
		// (Service.reconciling).
		if _, ok := st.revisions[oldTmpl.GetRevision()]; ok {
			adopted = oldTmpl.GetRevision()
		}
	}
	if err := validateTraffic(short, spec.Traffic); err != nil {
		return nil, err
	}

	// Service.generation: "A number that monotonically increases every time
	// the user modifies the desired state."
	changed := w.create || created != "" || !proto.Equal(spec, specOf(old))
	now := timestamppb.New(s.cfg.Clock.Now())
	out := spec
	out.Name = old.Name
	if w.create {
		out.Uid = s.uid()
		out.CreateTime = now
		out.Creator, out.LastModifier = w.caller, w.caller
		out.Generation = 1
		st.policy = &iampb.Policy{Version: 1, Etag: []byte(s.nextEtag())}
	} else {
		out.Uid, out.CreateTime, out.Creator, out.LastModifier = old.Uid, old.CreateTime, old.Creator, old.LastModifier
		if w.caller != "" {
			out.LastModifier = w.caller
		}
		out.Generation = old.Generation
		if changed {
			out.Generation++
		}
		out.ObservedGeneration = old.ObservedGeneration
		out.LatestReadyRevision, out.LatestCreatedRevision = old.LatestReadyRevision, old.LatestCreatedRevision
		out.TrafficStatuses, out.Conditions = old.TrafficStatuses, old.Conditions
	}
	out.UpdateTime = now
	out.Uri = serviceURI(project, location, short)
	out.Urls = []string{out.Uri}
	if n := s.cfg.numbers[project]; n != "" {
		out.Urls = append(out.Urls, numberURI(n, location, short))
	}
	out.Etag = s.nextEtag()
	if created != "" {
		st.revisions[created] = revState{
			rev:  s.newRevision(out, created, tmpl, now),
			tmpl: stripRevision(tmpl),
			seq:  s.next(),
		}
		out.LatestCreatedRevision = out.Name + "/revisions/" + created
		s.trimRevisions(st, out, created)
	}
	// The revision this write's template asks for: the one it created or
	// the existing one of the same name and configuration it adopted.
	tmplRev := ""
	switch {
	case created != "":
		tmplRev = created
	case adopted != "":
		tmplRev = adopted
		// Adopting a revision leaves latest_created_revision alone, except
		// when that one failed: then the adopted revision replaces it, so
		// that on success "latest_ready_revision and latest_created_revision"
		// match (Service.reconciling). Both unverified for the real API.
		if cur, ok := st.revisions[shortName(out.LatestCreatedRevision)]; ok &&
			readyCondition(cur.rev).GetState() == runpb.Condition_CONDITION_FAILED {
			out.LatestCreatedRevision = out.Name + "/revisions/" + adopted
		}
	}
	out.Reconciling = true
	out.TerminalCondition = &runpb.Condition{Type: "Ready", State: runpb.Condition_CONDITION_RECONCILING, LastTransitionTime: now}
	prev := old.Traffic
	var prevSpec *runpb.Service
	if w.create {
		prev = defaultTraffic()
	} else {
		prevSpec = specOf(old)
	}
	st.svc = out
	return &pending{service: out.Name, newRevision: created, tmplRevision: tmplRev, prevTraffic: cloneTraffic(prev), prevSpec: prevSpec, generation: out.Generation}, nil
}

// validateService checks the parts of a Service the emulator understands and
// refuses the ones it does not emulate with Unimplemented.
func validateService(in, old *runpb.Service, create bool) error {
	if in.MultiRegionSettings != nil {
		return status.Error(codes.Unimplemented, "cloudrunfake: service.multi_region_settings is not emulated")
	}
	if in.BuildConfig != nil {
		return status.Error(codes.Unimplemented, "cloudrunfake: service.build_config is not emulated")
	}
	// Service.template: "Required. The template used to create revisions
	// for this Service."
	t := in.Template
	if t == nil {
		return status.Error(codes.InvalidArgument, "service.template is required")
	}
	if len(t.Containers) == 0 {
		return status.Error(codes.InvalidArgument, "service.template.containers: at least one container with an image is required")
	}
	for i, c := range t.Containers {
		if c.GetImage() == "" {
			return status.Errorf(codes.InvalidArgument, "service.template.containers[%d].image is required", i)
		}
		if err := validateContainer(i, c); err != nil {
			return err
		}
	}
	var keep map[string]string
	if !create {
		keep = old.Annotations
	}
	if err := checkReserved("service.labels", in.Labels, nil); err != nil {
		return err
	}
	if err := checkReserved("service.annotations", in.Annotations, keep); err != nil {
		return err
	}
	if err := checkReserved("service.template.labels", t.Labels, nil); err != nil {
		return err
	}
	return checkReserved("service.template.annotations", t.Annotations, nil)
}

// reconcile finishes a write: the new revision becomes ready or fails, and
// the service's status follows the Service.reconciling comment: on success
// traffic_statuses, observed_generation and latest_ready_revision match the
// spec; on failure they keep "the state of the last serving revision" and
// terminal_condition is FAILED. On failure the write's spec stays, as on
// Cloud Run, unless WithFailedSpecRestored: then none of its changes stays
// (unless a later write has replaced the spec since): traffic,
// annotations, template and every other spec field are restored.
// latest_created_revision names the failed revision either way. A failed
// create keeps its spec with the default traffic. It returns the
// operation's error.
func (s *server) reconcile(st *serviceState, p *pending) error {
	now := timestamppb.New(s.cfg.Clock.Now())
	svc := st.svc
	var failErr error
	failMsg := ""
	if r, ok := st.revisions[p.newRevision]; ok && r.rev.Reconciling {
		rv := proto.Clone(r.rev).(*runpb.Revision)
		if msg, bad := s.failure(rv); bad {
			s.setRevisionFailed(rv, msg)
		} else {
			setRevisionReady(rv, now)
		}
		r.rev = rv
		st.revisions[p.newRevision] = r
	}
	// The revision the write asked for must be ready ("Revision '…' is not
	// ready and cannot serve traffic", transparency-dev/tesseract #413), also an
	// adopted one that failed before. A write that leaves the template as it
	// is (a traffic change after a failed deploy) does not re-check the
	// latest created revision, so a rollback can route around it
	// (unverified). One still reconciling belongs to another pending write.
	if r, ok := st.revisions[p.tmplRevision]; ok && !revisionReady(r.rev) && !r.rev.Reconciling {
		failErr, failMsg = notReady(p.tmplRevision, r.rev)
	}
	if failErr == nil {
		for _, t := range svc.Traffic {
			if _, ok := st.revisions[t.Revision]; t.Type == typeRevision && !ok {
				failErr = missingRevision(t.Revision)
				failMsg = status.Convert(failErr).Message()
				break
			}
		}
	}
	if failErr == nil {
		for _, t := range svc.Traffic {
			if t.Type != typeRevision || t.Percent == 0 {
				continue
			}
			// A target with traffic on a revision that failed (unverified: we
			// fail it like a revision that fails to start). One still
			// reconciling belongs to a later pending write, which checks it.
			if r, ok := st.revisions[t.Revision]; ok && !revisionReady(r.rev) && !r.rev.Reconciling {
				failErr, failMsg = notReady(t.Revision, r.rev)
				break
			}
		}
	}
	if failErr != nil {
		switch {
		case !s.cfg.restoreFailed:
			// The real API keeps the failed write's spec (see Fidelity).
		case svc.Generation != p.generation:
			// A later write replaced the spec; it is the one to keep.
		case p.prevSpec != nil && !proto.Equal(specOf(svc), p.prevSpec):
			svc = withSpec(svc, p.prevSpec)
			svc.Etag = s.nextEtag()
			st.svc = svc
		case p.prevSpec == nil && !slices.EqualFunc(svc.Traffic, p.prevTraffic, func(a, b *runpb.TrafficTarget) bool { return proto.Equal(a, b) }):
			svc.Traffic = cloneTraffic(p.prevTraffic)
			svc.Etag = s.nextEtag()
		}
		svc.TerminalCondition = &runpb.Condition{
			Type: "Ready", State: runpb.Condition_CONDITION_FAILED, Message: failMsg,
			LastTransitionTime: now, Severity: runpb.Condition_ERROR,
			Reasons: &runpb.Condition_Reason{Reason: runpb.Condition_REVISION_FAILED},
		}
		svc.Conditions = []*runpb.Condition{
			{Type: "ConfigurationsReady", State: runpb.Condition_CONDITION_FAILED, Message: failMsg, LastTransitionTime: now, Severity: runpb.Condition_ERROR},
			{Type: "RoutesReady", State: runpb.Condition_CONDITION_SUCCEEDED, LastTransitionTime: now},
		}
		svc.Reconciling = false
		return failErr
	}
	if r, ok := st.revisions[p.tmplRevision]; ok && revisionReady(r.rev) {
		cur, curOK := st.revisions[shortName(svc.LatestReadyRevision)]
		// The template's revision becomes the latest ready one, unless an
		// operation that completes late would move it back.
		if svc.LatestCreatedRevision == r.rev.Name || !curOK || r.seq > cur.seq {
			svc.LatestReadyRevision = r.rev.Name
		}
	}
	if p.generation > svc.ObservedGeneration {
		svc.ObservedGeneration = p.generation
	}
	svc.TrafficStatuses = trafficStatuses(svc, shortName(svc.LatestReadyRevision))
	svc.TerminalCondition = &runpb.Condition{Type: "Ready", State: runpb.Condition_CONDITION_SUCCEEDED, LastTransitionTime: now}
	// The sub-resource condition types are those the real API reports
	// (unverified).
	svc.Conditions = []*runpb.Condition{
		{Type: "RoutesReady", State: runpb.Condition_CONDITION_SUCCEEDED, LastTransitionTime: now},
		{Type: "ConfigurationsReady", State: runpb.Condition_CONDITION_SUCCEEDED, LastTransitionTime: now},
	}
	svc.Reconciling = false
	return nil
}

// notReady is the operation error of a revision that cannot serve:
// FAILED_PRECONDITION "Revision '…' is not ready and cannot serve traffic…"
// (code 9 and text in transparency-dev/tesseract issue #413).
func notReady(short string, rev *runpb.Revision) (error, string) {
	msg := fmt.Sprintf("Revision '%s' is not ready and cannot serve traffic.", short)
	if m := readyCondition(rev).GetMessage(); m != "" {
		msg += " " + m
	}
	return status.Error(codes.FailedPrecondition, msg), msg
}

func shortName(full string) string {
	if full == "" {
		return ""
	}
	_, short, err := parseRevisionName(full)
	if err != nil {
		return ""
	}
	return short
}

// checkEtag applies AIP-154: a non-empty etag that is not the current one is
// a conflict (ABORTED by default, see WithConflictCode).
func (s *server) checkEtag(what, name, got, want string) error {
	if got == "" || got == want {
		return nil
	}
	return status.Errorf(s.cfg.conflictCode, "etag %s does not match the current etag %s of %s %q: it changed since it was read; read it again and retry", got, want, what, name)
}

// checkQuota counts a write against the region's quota (WithWriteQuota).
// The message follows Google's quota error form (unverified for Cloud Run).
func (s *server) checkQuota(project, location string) error {
	if s.cfg.quotaN == 0 {
		return nil
	}
	region := "projects/" + project + "/locations/" + location
	now := s.cfg.Clock.Now().UnixNano()
	start := now - int64(s.cfg.quotaPer)
	kept := s.writes[region][:0]
	for _, t := range s.writes[region] {
		if t > start {
			kept = append(kept, t)
		}
	}
	if len(kept) >= s.cfg.quotaN {
		s.writes[region] = kept
		return status.Errorf(codes.ResourceExhausted, "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per %v per region' of service 'run.googleapis.com' for consumer 'project:%s' in region %s: %d writes allowed per %v; back off and retry", s.cfg.quotaPer, project, location, s.cfg.quotaN, s.cfg.quotaPer)
	}
	s.writes[region] = append(kept, now)
	return nil
}

// CreateService creates a service: "Creates a new Service in a given project
// and location."
func (s *server) CreateService(ctx context.Context, req *runpb.CreateServiceRequest) (*longrunningpb.Operation, error) {
	project, location, err := parseParent(req.GetParent())
	if err != nil {
		return nil, err
	}
	if req.GetService() == nil {
		return nil, status.Error(codes.InvalidArgument, "service is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := req.GetServiceId()
	if id == "" {
		// "If not provided, the server will generate a unique service_id."
		// (the form is unverified)
		id = "service-" + strconv.FormatUint(s.next(), 10)
	}
	if err := validateServiceID(id); err != nil {
		return nil, err
	}
	name := req.GetParent() + "/services/" + id
	if err := s.checkQuota(project, location); err != nil {
		return nil, err
	}
	if _, ok := s.services[name]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "Resource '%s' already exists.", id)
	}
	st := &serviceState{svc: &runpb.Service{Name: name}, revisions: map[string]revState{}, seq: s.next()}
	p, err := s.apply(st, req.GetService(), writeOpts{create: true, caller: emulator.Caller(ctx)})
	if err != nil {
		return nil, err
	}
	if req.GetValidateOnly() {
		return s.doneOperation(project, location, st.svc, st.svc), nil
	}
	s.services[name] = st
	return s.startOperation(project, location, st.svc, p, nil), nil
}

// GetService returns a service or NOT_FOUND.
func (s *server) GetService(_ context.Context, req *runpb.GetServiceRequest) (*runpb.Service, error) {
	if _, _, _, err := parseServiceName(req.GetName()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.services[req.GetName()]
	if !ok {
		return nil, serviceNotFound(req.GetName())
	}
	return proto.Clone(st.svc).(*runpb.Service), nil
}

func serviceNotFound(name string) error {
	return status.Errorf(codes.NotFound, "Resource '%s' was not found (service %q does not exist)", name, name)
}

// ListServices lists a region's services, newest first: "Results are sorted
// by creation time, descending." A region without services gives an empty
// list, never NOT_FOUND.
func (s *server) ListServices(_ context.Context, req *runpb.ListServicesRequest) (*runpb.ListServicesResponse, error) {
	if _, _, err := parseParent(req.GetParent()); err != nil {
		return nil, err
	}
	if req.GetShowDeleted() {
		return nil, status.Error(codes.Unimplemented, "cloudrunfake: show_deleted is not emulated (deleted services are forgotten at once)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*serviceState
	for name, st := range s.services {
		if i := strings.LastIndex(name, "/services/"); i >= 0 && name[:i] == req.GetParent() {
			all = append(all, st)
		}
	}
	slices.SortFunc(all, func(a, b *serviceState) int { return -cmpUint(a.seq, b.seq) })
	items, next, err := emulator.Page(all, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &runpb.ListServicesResponse{NextPageToken: next}
	for _, st := range items {
		resp.Services = append(resp.Services, proto.Clone(st.svc).(*runpb.Service))
	}
	return resp, nil
}

// UpdateService updates a service; allow_missing creates it, validate_only
// validates without persisting, force_new_revision makes a revision even
// for an unchanged template (UpdateServiceRequest comments).
func (s *server) UpdateService(ctx context.Context, req *runpb.UpdateServiceRequest) (*longrunningpb.Operation, error) {
	in := req.GetService()
	if in == nil {
		return nil, status.Error(codes.InvalidArgument, "service is required")
	}
	project, location, id, err := parseServiceName(in.GetName())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkQuota(project, location); err != nil {
		return nil, err
	}
	cur, exists := s.services[in.GetName()]
	if len(req.GetUpdateMask().GetPaths()) > 0 && exists {
		// UpdateServiceRequest.update_mask: "The list of fields to be
		// updated" (AIP-134: the others keep their values). Without the
		// service there is nothing to keep: allow_missing takes in whole.
		merged, err := emulator.ApplyMask(withSpec(cur.svc, specOf(cur.svc)), in, req.GetUpdateMask())
		if err != nil {
			return nil, err
		}
		m := merged.(*runpb.Service)
		m.Etag = in.GetEtag()
		in = m
	}
	var st *serviceState
	w := writeOpts{force: req.GetForceNewRevision(), caller: emulator.Caller(ctx)}
	switch {
	case exists:
		if err := s.checkEtag("service", in.GetName(), in.GetEtag(), cur.svc.Etag); err != nil {
			return nil, err
		}
		st = cur.clone()
	case req.GetAllowMissing():
		if err := validateServiceID(id); err != nil {
			return nil, err
		}
		st = &serviceState{svc: &runpb.Service{Name: in.GetName()}, revisions: map[string]revState{}, seq: s.next()}
		w.create = true
	default:
		return nil, serviceNotFound(in.GetName())
	}
	p, err := s.apply(st, in, w)
	if err != nil {
		return nil, err
	}
	if req.GetValidateOnly() {
		return s.doneOperation(project, location, st.svc, st.svc), nil
	}
	s.services[in.GetName()] = st
	return s.startOperation(project, location, st.svc, p, nil), nil
}

// DeleteService deletes a service and its revisions. The operation's
// response is the deleted Service with delete_time set ("It is only
// populated as a response to a Delete request.").
func (s *server) DeleteService(_ context.Context, req *runpb.DeleteServiceRequest) (*longrunningpb.Operation, error) {
	project, location, _, err := parseServiceName(req.GetName())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkQuota(project, location); err != nil {
		return nil, err
	}
	st, ok := s.services[req.GetName()]
	if !ok {
		return nil, serviceNotFound(req.GetName())
	}
	if err := s.checkEtag("service", req.GetName(), req.GetEtag(), st.svc.Etag); err != nil {
		return nil, err
	}
	gone := proto.Clone(st.svc).(*runpb.Service)
	gone.DeleteTime = timestamppb.New(s.cfg.Clock.Now())
	if req.GetValidateOnly() {
		return s.doneOperation(project, location, gone, gone), nil
	}
	delete(s.services, req.GetName())
	return s.startOperation(project, location, gone, nil, gone), nil
}

// seed stores svc as created and reconciled (Server.SetService).
func (s *server) seed(in *runpb.Service) error {
	if _, _, _, err := parseServiceName(in.GetName()); err != nil {
		return fmt.Errorf("cloudrunfake: SetService: %w", err)
	}
	var st *serviceState
	w := writeOpts{}
	if old, ok := s.services[in.GetName()]; ok {
		st = old.clone()
	} else {
		st = &serviceState{svc: &runpb.Service{Name: in.GetName()}, revisions: map[string]revState{}, seq: s.next()}
		w.create = true
	}
	p, err := s.apply(st, in, w)
	if err != nil {
		return fmt.Errorf("cloudrunfake: SetService %q: %w", in.GetName(), err)
	}
	if err := s.reconcile(st, p); err != nil {
		return fmt.Errorf("cloudrunfake: SetService %q: %w", in.GetName(), err)
	}
	s.services[in.GetName()] = st
	return nil
}

// validateContainer checks the container fields whose rules the runpb
// comments state: "Only a single port can be specified" (Container.ports);
// "This must be a valid TCP port number, 0 < container_port < 65536"
// (ContainerPort.container_port); "The only supported values for CPU are
// '1', '2', '4', and '8'" (ResourceRequirements.limits). Cloud Run's CPU
// documentation (cloud.google.com/run/docs/configuring/cpu) also allows
// fractional CPU below 1 and 6, which the emulator accepts too; the memory
// minimums it ties to CPU are not checked (see Fidelity). The error texts
// are the emulator's own.
func validateContainer(i int, c *runpb.Container) error {
	if n := len(c.GetPorts()); n > 1 {
		return status.Errorf(codes.InvalidArgument, "service.template.containers[%d].ports: %d ports given; only a single port can be specified", i, n)
	}
	for _, p := range c.GetPorts() {
		if p.GetContainerPort() <= 0 || p.GetContainerPort() >= 65536 {
			return status.Errorf(codes.InvalidArgument, "service.template.containers[%d].ports.container_port %d: must be a valid TCP port number, 0 < container_port < 65536", i, p.GetContainerPort())
		}
	}
	if cpu, ok := c.GetResources().GetLimits()["cpu"]; ok && !validCPU(cpu) {
		return status.Errorf(codes.InvalidArgument, "service.template.containers[%d].resources.limits.cpu %q: the supported values are '1', '2', '4', '6' and '8' (or a fraction below 1)", i, cpu)
	}
	return nil
}

// cpuMillis parses a CPU limit written as a number ("2", "0.5") or in
// millicores ("2000m").
func cpuMillis(cpu string) (float64, bool) {
	if m, ok := strings.CutSuffix(cpu, "m"); ok {
		v, err := strconv.ParseFloat(m, 64)
		return v, err == nil
	}
	v, err := strconv.ParseFloat(cpu, 64)
	return v * 1000, err == nil
}

// cpuOf returns the CPU limit of t's first container in CPUs, if set.
func cpuOf(t *runpb.RevisionTemplate) (float64, bool) {
	if len(t.GetContainers()) == 0 {
		return 0, false
	}
	cpu, ok := t.GetContainers()[0].GetResources().GetLimits()["cpu"]
	if !ok {
		return 0, false
	}
	millis, ok := cpuMillis(cpu)
	return millis / 1000, ok
}

// validCPU reports whether cpu is 1, 2, 4, 6 or 8 CPUs, or a fraction of
// one.
func validCPU(cpu string) bool {
	millis, ok := cpuMillis(cpu)
	if !ok {
		return false
	}
	switch {
	case millis > 0 && millis < 1000:
		return true
	case millis == 1000, millis == 2000, millis == 4000, millis == 6000, millis == 8000:
		return true
	}
	return false
}

// templateDefaults fills the server defaults of a revision template, which
// the service's template and its revisions then show (RevisionTemplate
// field comments): concurrency "If not specified or 0, concurrency
// defaults to 80 when requested CPU >= 1 and defaults to 1 when requested
// CPU < 1"; service_account "If not provided, the revision will use the
// project's default service account" (NUMBER-compute@developer.gserviceaccount.com,
// known with WithProjectNumber); timeout 300s, the documented default
// request timeout (cloud.google.com/run/docs/configuring/request-timeout).
// That GetService shows them in the template too is unverified.
func (s *server) templateDefaults(project string, t *runpb.RevisionTemplate) {
	if t == nil {
		return
	}
	if t.MaxInstanceRequestConcurrency == 0 {
		t.MaxInstanceRequestConcurrency = 80
		if cpu, ok := cpuOf(t); ok && cpu < 1 {
			t.MaxInstanceRequestConcurrency = 1
		}
	}
	if t.ServiceAccount == "" {
		if n := s.cfg.numbers[project]; n != "" {
			t.ServiceAccount = n + "-compute@developer.gserviceaccount.com"
		}
	}
	if t.Timeout == nil {
		t.Timeout = durationpb.New(300 * time.Second)
	}
}

// trimRevisions deletes the oldest revisions of st beyond WithMaxRevisions
// (1,000, Cloud Run's limit) that nothing uses: not serving, tagged or
// named by out's spec (inUse), not latest, and not created, the one this
// write made.
func (s *server) trimRevisions(st *serviceState, out *runpb.Service, created string) {
	if s.cfg.maxRevs <= 0 || len(st.revisions) <= s.cfg.maxRevs {
		return
	}
	names := slices.SortedFunc(maps.Keys(st.revisions), func(a, b string) int { return cmp.Compare(st.revisions[a].seq, st.revisions[b].seq) })
	for _, name := range names {
		if len(st.revisions) <= s.cfg.maxRevs {
			return
		}
		if name == created || name == shortName(out.LatestReadyRevision) || name == out.GetTemplate().GetRevision() || inUse(out, name) != "" {
			continue
		}
		delete(st.revisions, name)
	}
}
