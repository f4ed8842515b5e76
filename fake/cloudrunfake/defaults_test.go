package cloudrunfake_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/fake/emulation"
)

// principal is an emulation.Principal with an email, as stsfake's.
type principal string

func (p principal) Matches(m string) bool { return m == "user:"+string(p) }
func (p principal) Email() string         { return string(p) }

// TestServerDefaults: the output-only fields and server defaults a real
// service carries (issue 16, item 3): the run.app hash shared by a
// project's services, the deterministic SERVICE-NUMBER.REGION.run.app URL
// in urls, revisions' concurrency 80 (1 below one CPU), timeout 300s and
// the project's default service account, creator and last_modifier from
// the caller, a deleted revision's expire_time.
func TestServerDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cloudrunfake.WithProjectNumber("p", "123456789012"))
	web := e.create(t, "web", service("img:1"))
	api := e.create(t, "api", service("img:1"))
	hash := func(uri string) string { return strings.Split(strings.TrimPrefix(uri, "https://"), "-")[1] }
	if hash(web.GetUri()) != hash(api.GetUri()) {
		t.Errorf("uris %s and %s: want one hash per project", web.GetUri(), api.GetUri())
	}
	if want := "https://web-123456789012.us-central1.run.app"; len(web.GetUrls()) != 2 || web.GetUrls()[1] != want {
		t.Errorf("urls = %q, want the uri and %s", web.GetUrls(), want)
	}
	rev, err := e.revs.GetRevision(t.Context(), &runpb.GetRevisionRequest{Name: web.GetLatestCreatedRevision()})
	if err != nil {
		t.Fatal(err)
	}
	if rev.GetMaxInstanceRequestConcurrency() != 80 || rev.GetTimeout().AsDuration() != 300*time.Second || rev.GetServiceAccount() != "123456789012-compute@developer.gserviceaccount.com" {
		t.Errorf("revision defaults: concurrency %d, timeout %v, service account %q", rev.GetMaxInstanceRequestConcurrency(), rev.GetTimeout().AsDuration(), rev.GetServiceAccount())
	}
	small := service("img:2")
	small.Template.Containers[0].Resources = &runpb.ResourceRequirements{Limits: map[string]string{"cpu": "0.5", "memory": "512Mi"}}
	smallSvc := e.create(t, "small", small)
	if rev, err := e.revs.GetRevision(t.Context(), &runpb.GetRevisionRequest{Name: smallSvc.GetLatestCreatedRevision()}); err != nil || rev.GetMaxInstanceRequestConcurrency() != 1 {
		t.Errorf("a revision below one CPU: concurrency %d, %v; want 1", rev.GetMaxInstanceRequestConcurrency(), err)
	}
	// A second revision, so that the first can be deleted.
	web.Template.Containers[0].Image = "img:3"
	op, err := e.svcs.UpdateService(t.Context(), &runpb.UpdateServiceRequest{Service: web})
	if err == nil {
		_, err = op.Wait(t.Context())
	}
	if err != nil {
		t.Fatal(err)
	}
	dop, err := e.revs.DeleteRevision(t.Context(), &runpb.DeleteRevisionRequest{Name: rev.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := dop.Wait(t.Context())
	if err != nil || gone.GetExpireTime() == nil {
		t.Errorf("DeleteRevision = %v, %v; want the revision with its expire_time", gone, err)
	}
}

// TestCreatorFromCaller: with IAM enforced, creator and last_modifier name
// the caller of the create and of the last update.
func TestCreatorFromCaller(t *testing.T) {
	t.Parallel()
	owner := &iampb.Policy{Bindings: []*iampb.Binding{{Role: "roles/run.admin", Members: []string{"user:alice@example.com", "user:bob@example.com"}}}}
	srv, err := cloudrunfake.NewServer(cloudrunfake.WithIAM(emulation.IAM{
		Resolve: func(tok string) (emulation.Principal, bool) { return principal(tok), true },
		Policy:  func(string) *iampb.Policy { return owner },
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	as := func(who string) *run.ServicesClient {
		c, err := run.NewServicesClient(t.Context(), append(srv.ClientOptions(), option.WithGRPCDialOption(grpc.WithPerRPCCredentials(emulation.Bearer(who))))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	op, err := as("alice@example.com").CreateService(t.Context(), &runpb.CreateServiceRequest{Parent: parent, ServiceId: "web", Service: service("img:1")})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := op.Wait(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	svc.Template.Containers[0].Image = "img:2"
	uop, err := as("bob@example.com").UpdateService(t.Context(), &runpb.UpdateServiceRequest{Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	if svc, err = uop.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if svc.GetCreator() != "alice@example.com" || svc.GetLastModifier() != "bob@example.com" {
		t.Errorf("creator %q, last_modifier %q; want alice and bob", svc.GetCreator(), svc.GetLastModifier())
	}
}

// TestUpdateMask: UpdateService with an update_mask changes only the
// fields it names (AIP-134): labels alone make no revision; a template
// path makes one; an unknown path is INVALID_ARGUMENT naming it. Before,
// any mask was UNIMPLEMENTED.
func TestUpdateMask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.create(t, "web", service("img:1"))
	update := func(in *runpb.Service, paths ...string) (*runpb.Service, error) {
		op, err := e.svcs.UpdateService(t.Context(), &runpb.UpdateServiceRequest{Service: in, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
		if err != nil {
			return nil, err
		}
		return op.Wait(t.Context())
	}
	// A partial Service: only the name and the masked field.
	got, err := update(&runpb.Service{Name: svc.GetName(), Labels: map[string]string{"team": "web"}}, "labels")
	if err != nil {
		t.Fatal(err)
	}
	if got.GetLabels()["team"] != "web" || got.GetTemplate().GetContainers()[0].GetImage() != "img:1" || got.GetLatestCreatedRevision() != svc.GetLatestCreatedRevision() {
		t.Errorf("labels-only update: labels %v, image %q, latest %q (was %q)", got.GetLabels(), got.GetTemplate().GetContainers()[0].GetImage(), got.GetLatestCreatedRevision(), svc.GetLatestCreatedRevision())
	}
	got, err = update(&runpb.Service{Name: svc.GetName(), Template: service("img:2").Template}, "template.containers")
	if err != nil {
		t.Fatal(err)
	}
	if got.GetTemplate().GetContainers()[0].GetImage() != "img:2" || got.GetLabels()["team"] != "web" || got.GetLatestCreatedRevision() == svc.GetLatestCreatedRevision() {
		t.Errorf("template.containers update: image %q, labels %v, latest %q", got.GetTemplate().GetContainers()[0].GetImage(), got.GetLabels(), got.GetLatestCreatedRevision())
	}
	if _, err := update(&runpb.Service{Name: svc.GetName()}, "nope"); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("an unknown mask path = %v, want INVALID_ARGUMENT naming it", err)
	}
}

// TestRevisionLimit: beyond WithMaxRevisions (Cloud Run: 1,000) creating a
// revision deletes the oldest that nothing uses; a tagged one stays.
func TestRevisionLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cloudrunfake.WithMaxRevisions(3))
	svc := e.create(t, "web", service("img:0"))
	first := svc.GetLatestCreatedRevision()
	short := func(name string) string { return name[strings.LastIndex(name, "/")+1:] }
	// Tag the first revision, then make four more.
	svc.Traffic = []*runpb.TrafficTarget{
		{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST, Percent: 100},
		{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION, Revision: short(first), Tag: "old"},
	}
	for i := 1; i <= 4; i++ {
		svc.Template.Containers[0].Image = "img:" + strconv.Itoa(i)
		op, err := e.svcs.UpdateService(t.Context(), &runpb.UpdateServiceRequest{Service: svc})
		if err == nil {
			svc, err = op.Wait(t.Context())
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for _, r := range e.srv.Revisions(svc.GetName()) {
		names = append(names, short(r.GetName()))
	}
	if len(names) != 3 || !slices.Contains(names, short(first)) || !slices.Contains(names, short(svc.GetLatestCreatedRevision())) {
		t.Errorf("revisions after 5 creations with a limit of 3 = %q, want 3 keeping the tagged first and the latest", names)
	}
}
