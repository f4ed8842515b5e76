package cloudrunfake_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"

	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/fake/emulation"
)

// principal is an emulation.Principal with an email, as stsfake's.
type principal string

func (p principal) Matches(m string) bool { return m == "user:"+string(p) }
func (p principal) Email() string         { return string(p) }

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return false }

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
		c, err := run.NewServicesClient(t.Context(), append(srv.ClientOptions(), option.WithGRPCDialOption(grpc.WithPerRPCCredentials(bearer(who))))...)
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
