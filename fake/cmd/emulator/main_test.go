package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"

	runapi "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func TestRunServesCloudRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"-port", "0"}, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the export line: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "export CLOUDRUN_EMULATOR_HOST=")
	if !ok || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("first line = %q, want export CLOUDRUN_EMULATOR_HOST=127.0.0.1:PORT", line)
	}
	go io.Copy(io.Discard, pr) // drain lines of later emulators

	client, err := runapi.NewServicesClient(ctx, option.WithEndpoint(addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
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
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-port", "70000"}, {"extra"}, {"-nope"}} {
		if err := run(context.Background(), args, io.Discard); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}
