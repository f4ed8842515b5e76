package main

import (
	"context"
	"fmt"
	"net"

	"github.com/twostage/twostage/examples/twostage/internal/backend"
	"github.com/twostage/twostage/fake/artifactregistryfake"
	"github.com/twostage/twostage/fake/cloudrunfake"
)

type emulatorResult struct {
	Export string `json:"export"`
}

func (r emulatorResult) Text() string { return "" }

// cmdEmulator serves the Cloud Run and Artifact Registry emulators (with
// their OCI registry) for local play and prints the TWOSTAGE_EMULATOR_HOST
// line to export, then serves until interrupted. It stands in for
// fake/cmd/emulator until that program serves every API the CLI needs.
func (a *app) cmdEmulator(ctx context.Context, args []string) (any, error) {
	fs := a.flags("emulator")
	host := fs.String("addr", "127.0.0.1", "the address to listen on")
	if err := a.parse(fs, args); err != nil {
		return nil, err
	}
	crun, err := cloudrunfake.NewServer(cloudrunfake.WithAddress(net.JoinHostPort(*host, "0")))
	if err != nil {
		return nil, fmt.Errorf("starting the Cloud Run emulator: %w", err)
	}
	defer crun.Close()
	ar, err := artifactregistryfake.NewServer(artifactregistryfake.WithAddress(net.JoinHostPort(*host, "0")))
	if err != nil {
		return nil, fmt.Errorf("starting the Artifact Registry emulator: %w", err)
	}
	defer ar.Close()
	line := fmt.Sprintf("export %s=run=%s,artifactregistry=%s,registry=%s", backend.EnvEmulatorHost, crun.Addr, ar.Addr, ar.RegistryHost())
	if !a.json {
		fmt.Fprintln(a.stdout, line)
		fmt.Fprintln(a.stderr, "twostage emulator: serving Cloud Run and Artifact Registry until interrupted (state is in memory)")
	}
	<-ctx.Done()
	return emulatorResult{Export: line}, nil
}
