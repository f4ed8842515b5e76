package cloudrunfake_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/registry"
)

// inProcess answers HTTP requests with a handler, for pushing to an
// in-memory registry without a network.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	in := r.Clone(r.Context()) // a server-side request always has a body
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// pushed pushes imgs to an in-memory OCI registry at host "reg.test" and
// returns the image source that reads it, with each image's digest
// reference.
func pushed(t *testing.T, imgs map[string]v1.Image) (func(context.Context, string) (v1.Image, error), map[string]string) {
	t.Helper()
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	refs := map[string]string{}
	for tag, img := range imgs {
		ref, err := name.ParseReference("reg.test/p/apps/web:"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, remote.WithTransport(inProcess{h})); err != nil {
			t.Fatalf("pushing %s: %v", ref, err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		refs[tag] = "reg.test/p/apps/web@" + d.String()
	}
	return cloudrunfake.RegistryImages("reg.test", h), refs
}

func build(t *testing.T, spec registry.BuildSpec) v1.Image {
	t.Helper()
	img, err := registry.Build(context.Background(), nil, spec)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func getBody(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDataPlaneFiles: an image with no entrypoint (what `twostage dev
// --image-dir` builds) serves its files from its working directory;
// GET /index.html answers the file itself.
func TestDataPlaneFiles(t *testing.T) {
	t.Parallel()
	dist := t.TempDir()
	os.WriteFile(filepath.Join(dist, "index.html"), []byte("<h1>hello</h1>"), 0o644)
	os.MkdirAll(filepath.Join(dist, "css"), 0o755)
	os.WriteFile(filepath.Join(dist, "css", "site.css"), []byte("h1{}"), 0o644)
	src, refs := pushed(t, map[string]v1.Image{"site": build(t, registry.BuildSpec{Dir: dist, WorkingDir: "/app"})})
	e := newEnv(t, cloudrunfake.WithImageSource(src))
	svc := e.create(t, "web", service(refs["site"]))
	c := e.srv.HTTPClient()
	t.Cleanup(c.CloseIdleConnections)
	for path, want := range map[string]string{"/index.html": "<h1>hello</h1>", "/": "<h1>hello</h1>", "/css/site.css": "h1{}"} {
		if code, body := getBody(t, c, svc.GetUri()+path); code != http.StatusOK || body != want {
			t.Errorf("GET %s = %d %q, want 200 %q", path, code, body, want)
		}
	}
	if code, _ := getBody(t, c, svc.GetUri()+"/../../etc/passwd"); code != http.StatusNotFound {
		t.Errorf("GET outside the image = %d, want 404", code)
	}
}

// TestDataPlaneRefusesForeignEntrypoints: an entrypoint that is not an
// executable for this machine fails the revision's readiness with the
// reason, like a revision that fails to start.
func TestDataPlaneRefusesForeignEntrypoints(t *testing.T) {
	t.Parallel()
	// An ELF header for another architecture than this machine's.
	elf := make([]byte, 64)
	copy(elf, "\x7fELF\x02\x01\x01")
	elf[18] = 183 // arm64
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		elf[18], other = 62, "amd64"
	}
	src, refs := pushed(t, map[string]v1.Image{
		"script":  build(t, registry.BuildSpec{Files: map[string][]byte{"/app/run.sh": []byte("#!/bin/sh\necho hi\n")}, Entrypoint: []string{"/app/run.sh"}}),
		"foreign": build(t, registry.BuildSpec{Files: map[string][]byte{"/app/server": elf}, Entrypoint: []string{"/app/server"}}),
	})
	e := newEnv(t, cloudrunfake.WithImageSource(src))
	for tag, want := range map[string]string{"script": "is a script (#!/bin/sh), not an executable", "foreign": "is a Linux executable for " + other} {
		op, err := e.svcs.CreateService(context.Background(), &runpb.CreateServiceRequest{Parent: parent, ServiceId: "web-" + tag, Service: service(refs[tag])})
		if err != nil {
			t.Fatal(err)
		}
		_, err = op.Wait(context.Background())
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "is not ready and cannot serve traffic") {
			t.Errorf("%s: deploy = %v, want FAILED_PRECONDITION naming %q", tag, err, want)
		}
	}
}

// TestDataPlaneProcess: an image whose entrypoint is an executable for this
// machine runs as a local process with Cloud Run's container contract,
// started on the first request and stopped on Close, its output captured.
func TestDataPlaneProcess(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	dir := t.TempDir()
	src := `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	fmt.Println("starting", os.Getenv("K_REVISION"))
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s %s", os.Getenv("K_SERVICE"), os.Getenv("K_REVISION"), os.Getenv("K_CONFIGURATION"), os.Getenv("GREETING"))
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
}
`
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module server\n\ngo 1.26\n"), 0o644)
	bin := filepath.Join(dir, "server")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	img := build(t, registry.BuildSpec{
		Binaries:   map[string]string{bin: "/app/server"},
		Entrypoint: []string{"/app/server"},
		Platform:   &v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH},
	})
	source, refs := pushed(t, map[string]v1.Image{"v1": img})
	e := newEnv(t, cloudrunfake.WithImageSource(source))
	svc := service(refs["v1"])
	svc.Template.Revision = "web-one"
	svc.Template.Containers[0].Env = []*runpb.EnvVar{{Name: "GREETING", Values: &runpb.EnvVar_Value{Value: "hi"}}}
	svc = e.create(t, "web", svc)
	c := e.srv.HTTPClient()
	t.Cleanup(c.CloseIdleConnections)
	for range 3 {
		if code, body := getBody(t, c, svc.GetUri()); code != http.StatusOK || body != "web web-one web hi" {
			t.Fatalf("GET = %d %q, want the process's answer with the contract's variables", code, body)
		}
	}
	if out := e.srv.Output("web-one"); !strings.Contains(out, "starting web-one") {
		t.Errorf("Output = %q, want the process's output", out)
	}
	if err := e.srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
