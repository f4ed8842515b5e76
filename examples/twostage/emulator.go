package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"

	"github.com/twostage/twostage/examples/twostage/internal/backend"
	"github.com/twostage/twostage/fake/emulators"
)

type emulatorResult struct {
	Export string `json:"export"`
}

func (r emulatorResult) Text() string { return "" }

// cmdEmulator serves every emulator (Cloud Run, Artifact Registry with its
// OCI registry, IAM, STS, Resource Manager, Cloud Monitoring) on one address
// through fake/emulators, the same set as fake/cmd/emulator, seeding the
// Artifact Registry repository twostage.yaml names (if the file exists),
// prints the TWOSTAGE_EMULATOR_HOST line to export, and serves until
// interrupted.
func (a *app) cmdEmulator(ctx context.Context, args []string) (any, error) {
	fset := a.flags("emulator")
	host := fset.String("addr", "127.0.0.1", "the address to listen on")
	port := fset.Int("port", 0, "the port to listen on (0 picks a free one)")
	if err := a.parse(fset, args); err != nil {
		return nil, err
	}
	opts := []emulators.Option{emulators.WithAddress(net.JoinHostPort(*host, strconv.Itoa(*port)))}
	_, statErr := os.Stat(a.cfgPath)
	switch err := a.load(); {
	case errors.Is(statErr, fs.ErrNotExist):
		// No twostage.yaml yet: the defaults match `twostage init`.
	case err == nil:
		loc := a.cfg.Registry.Location
		if loc == "" {
			loc = a.cfg.Region
		}
		opts = append(opts, emulators.WithProject(a.cfg.Project), emulators.WithRegion(loc), emulators.WithRepository(a.cfg.Registry.Repository))
	default:
		return nil, err
	}
	set, err := emulators.Start(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("starting the emulators: %w", err)
	}
	defer set.Close()
	line := fmt.Sprintf("export %s=%s", backend.EnvEmulatorHost, set.Addr)
	if !a.json {
		fmt.Fprintln(a.stdout, line)
		fmt.Fprintf(a.stderr, "twostage emulator: %s; admin API %s; state is in memory, Ctrl-C ends it\n", set.Summary(), set.Endpoints().Admin)
	}
	<-ctx.Done()
	return emulatorResult{Export: line}, nil
}
