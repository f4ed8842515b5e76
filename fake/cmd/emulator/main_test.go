package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	artifactregistry "cloud.google.com/go/artifactregistry/apiv1"
	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	runapi "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"go.uber.org/goleak"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startProgram runs the program with args and returns its first three
// output lines; the program stops at the test's end.
func startProgram(t *testing.T, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, args, pw)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("run after cancel = %v, want nil", err)
		}
	})
	br := bufio.NewReader(pr)
	var lines []string
	for range 3 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the output: %v (so far %q)", err, lines)
		}
		lines = append(lines, strings.TrimSpace(line))
	}
	go io.Copy(io.Discard, br) // nothing more is expected; do not block the program
	return lines
}

func TestRunServesEverythingOnOneAddress(t *testing.T) {
	t.Parallel()
	lines := startProgram(t, "-port", "0", "-project", "proj", "-region", "europe-west1", "-repository", "images")
	addr, ok := strings.CutPrefix(lines[0], "export TWOSTAGE_EMULATOR_HOST=")
	if !ok || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("first line = %q, want export TWOSTAGE_EMULATOR_HOST=127.0.0.1:PORT", lines[0])
	}
	if want := "export CLOUDRUN_EMULATOR_HOST=" + addr; lines[1] != want {
		t.Errorf("second line = %q, want %q", lines[1], want)
	}
	if !strings.HasPrefix(lines[2], "# serving ") || !strings.Contains(lines[2], addr+"/proj/images") {
		t.Errorf("third line = %q, want a # summary naming the repository %s/proj/images", lines[2], addr)
	}
	ctx := t.Context()
	opts := []option.ClientOption{option.WithEndpoint(addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}

	client, err := runapi.NewServicesClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	op, err := client.CreateService(ctx, &runpb.CreateServiceRequest{
		Parent: "projects/p/locations/us-central1", ServiceId: "web",
		Service: &runpb.Service{Template: &runpb.RevisionTemplate{Containers: []*runpb.Container{{Image: "img"}}}},
	})
	if err != nil {
		t.Fatalf("CreateService through the emulator program: %v", err)
	}
	if svc, err := op.Wait(ctx); err != nil || svc.GetLatestReadyRevision() == "" {
		t.Fatalf("Wait = %v, %v; want a ready service", svc, err)
	}

	ar, err := artifactregistry.NewClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	repo, err := ar.GetRepository(ctx, &artifactregistrypb.GetRepositoryRequest{Name: "projects/proj/locations/europe-west1/repositories/images"})
	if err != nil {
		t.Fatalf("GetRepository of the seeded repository: %v", err)
	}
	if repo.GetFormat() != artifactregistrypb.Repository_DOCKER || repo.GetRegistryUri() != addr+"/proj/images" {
		t.Errorf("seeded repository = %v, want DOCKER at %s/proj/images", repo, addr)
	}
}

func TestRunSeedsNoRepositoryOnRequest(t *testing.T) {
	t.Parallel()
	lines := startProgram(t, "-repository", "")
	if !strings.Contains(lines[2], "no repository seeded") {
		t.Errorf("summary = %q, want it to say no repository is seeded", lines[2])
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-port", "70000"}, {"-port", "-1"}, {"extra"}, {"-nope"}, {"-project", ""}, {"-addr", "256.0.0.1"}} {
		if err := run(t.Context(), args, io.Discard); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

// TestRunSetsTheStage: -github-claims, -sts-provider, -manual-operations
// and -fail-image set what the admin API sets; a bad file is refused.
func TestRunSetsTheStage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	claims := filepath.Join(dir, "claims.json")
	os.WriteFile(claims, []byte(`{"repository": "octo/app", "ref": "refs/heads/main"}`), 0o644)
	prov := filepath.Join(dir, "provider.json")
	name := "projects/123456789012/locations/global/workloadIdentityPools/github/providers/gh"
	os.WriteFile(prov, []byte(`{"name": "`+name+`", "attributeMapping": {"google.subject": "assertion.sub"}}`), 0o644)
	lines := startProgram(t, "-github-claims", claims, "-sts-provider", prov, "-manual-operations", "-fail-image", "example.com/bad@sha256:"+strings.Repeat("0", 64))
	addr := strings.TrimPrefix(lines[0], "export TWOSTAGE_EMULATOR_HOST=")
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	get := func(path string) map[string]any {
		t.Helper()
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return out
	}
	gh := get("/_admin/v1/github")
	req, _ := http.NewRequest("GET", gh["requestURL"].(string)+"&audience=x", nil)
	req.Header.Set("Authorization", "Bearer "+gh["requestToken"].(string))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("the Actions token request with -github-claims = HTTP %d, want 200", resp.StatusCode)
	}
	op, err := c.Post("http://"+addr+"/v2/projects/p/locations/us-central1/services?serviceId=api", "application/json",
		strings.NewReader(`{"template": {"containers": [{"image": "example.com/ok@sha256:`+strings.Repeat("1", 64)+`"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	var o map[string]any
	json.NewDecoder(op.Body).Decode(&o)
	op.Body.Close()
	if o["done"] == true {
		t.Errorf("with -manual-operations a create answered a done operation: %v", o)
	}
	for _, args := range [][]string{{"-github-claims", filepath.Join(dir, "none.json")}, {"-sts-provider", claims}} {
		if err := run(t.Context(), args, io.Discard); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}
