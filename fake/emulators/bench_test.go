package emulators_test

import (
	"testing"

	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/api/option"

	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/fake/emulators"
)

// benchGetService measures a GetService round trip through opts.
func benchGetService(b *testing.B, seed func(*runpb.Service) error, opts []option.ClientOption) {
	svc := &runpb.Service{Name: "projects/p/locations/l/services/web",
		Template: &runpb.RevisionTemplate{Containers: []*runpb.Container{{Image: "img"}}}}
	if err := seed(svc); err != nil {
		b.Fatal(err)
	}
	c, err := run.NewServicesClient(b.Context(), opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := &runpb.GetServiceRequest{Name: svc.Name}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GetService(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetService compares the shared address (gRPC through
// net/http's HTTP/2 server and grpc.Server.ServeHTTP) with the Cloud Run
// emulator's own gRPC listener.
func BenchmarkGetService(b *testing.B) {
	b.Run("shared", func(b *testing.B) {
		set, err := emulators.Start(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		defer set.Close()
		benchGetService(b, set.CloudRun().SetService, set.ClientOptions())
	})
	b.Run("standalone", func(b *testing.B) {
		srv, err := cloudrunfake.NewServer()
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		benchGetService(b, srv.SetService, srv.ClientOptions())
	})
}
