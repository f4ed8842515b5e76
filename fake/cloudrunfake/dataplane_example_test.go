package cloudrunfake_test

import (
	"fmt"
	"io"
	"net/http"

	"cloud.google.com/go/run/apiv2/runpb"

	"github.com/twostage/twostage/fake/cloudrunfake"
)

// The data plane serves a service's URL with the code of the revision the
// traffic split picks: here a Go handler registered for the image's
// digest. NewHTTPClient (Server.HTTPClient) sends *.run.app requests to
// the emulator.
func ExampleServer_DataPlane() {
	const image = "europe-west1-docker.pkg.dev/acme/apps/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	srv, err := cloudrunfake.NewServer(cloudrunfake.WithHandler("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from %s", r.URL.Path)
		})))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	name := "projects/acme/locations/europe-west1/services/api"
	if err := srv.SetService(&runpb.Service{Name: name, Template: &runpb.RevisionTemplate{Containers: []*runpb.Container{{Image: image}}}}); err != nil {
		panic(err)
	}
	svc, _ := srv.Service(name)
	c := srv.HTTPClient()
	defer c.CloseIdleConnections()
	resp, err := c.Get(svc.GetUri() + "/greeting")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))

	resp, err = c.Get("https://unknown-0000000000-ew.a.run.app/")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// 200 hello from /greeting
	// 404
}
