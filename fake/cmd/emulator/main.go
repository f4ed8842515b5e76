// Command emulator serves every twostage emulator of Google Cloud (Cloud
// Run v2, Artifact Registry v1 with its OCI registry, Resource Manager v3,
// Cloud Monitoring v3, IAM v1, STS with a GitHub-like OIDC issuer and IAM
// Credentials) on ONE address, for local play. It is a thin wrapper around package
// fake/emulators, whose documentation gives the routing table and how each
// client connects.
//
// Usage:
//
//	emulator [-addr 127.0.0.1] [-port 0] [-project my-project] [-region us-central1] [-repository apps]
//	         [-github-claims FILE] [-sts-provider FILE]... [-manual-operations] [-fail-image IMAGE]...
//
// The last four set the stage as the admin API does (fake/emulators
// AdminPath, "/_admin/v1" on the same address, which any HTTP client can
// call at run time): the claims of the GitHub Actions tokens (a JSON
// object), STS providers (JSON as POST /_admin/v1/sts/providers takes it),
// Cloud Run operations that stay pending until POST
// /_admin/v1/run/operations:complete, and images whose revisions fail.
//
// It seeds one Artifact Registry DOCKER repository,
// projects/PROJECT/locations/REGION/repositories/REPOSITORY (the defaults
// of `twostage init`; -repository "" seeds none), and nothing else, then
// prints
//
//	export TWOSTAGE_EMULATOR_HOST=127.0.0.1:41234
//	export CLOUDRUN_EMULATOR_HOST=127.0.0.1:41234
//	# serving Cloud Run v2 (and its data plane: Host *.run.app), Artifact Registry v1 + OCI registry (…), … on 127.0.0.1:41234
//
// (the lines a shell can export; CLOUDRUN_EMULATOR_HOST is kept for
// clients of earlier versions) and serves until SIGINT or SIGTERM, so run it
// in another terminal or in the background with a fixed port:
//
//	go run ./fake/cmd/emulator -port 9090 &
//	export TWOSTAGE_EMULATOR_HOST=127.0.0.1:9090
//
// State is in memory only.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/twostage/twostage/fake/artifactregistryfake"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/fake/emulators"
	"github.com/twostage/twostage/fake/iamfake"
	"github.com/twostage/twostage/fake/monitoringfake"
	"github.com/twostage/twostage/fake/resourcemanagerfake"
	"github.com/twostage/twostage/fake/stsfake"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "emulator:", err)
		os.Exit(1)
	}
}

// maxRequests bounds every emulator's request log: the program may run
// for days.
const maxRequests = 10000

// run starts the emulators on one address, prints the export lines and a
// summary to stdout and serves until ctx is done.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	host := fs.String("addr", "127.0.0.1", "host or IP `address` to listen on")
	port := fs.Int("port", 0, "TCP `port` to listen on (0: a free port)")
	project := fs.String("project", "my-project", "project `ID` of the seeded Artifact Registry repository")
	region := fs.String("region", "us-central1", "`location` of the seeded Artifact Registry repository")
	repo := fs.String("repository", "apps", "`ID` of the seeded Artifact Registry DOCKER repository (\"\": none)")
	claimsFile := fs.String("github-claims", "", "JSON `file` of the claims the GitHub Actions token request issues (as PUT /_admin/v1/github/claims)")
	manual := fs.Bool("manual-operations", false, "keep Cloud Run operations pending until POST /_admin/v1/run/operations:complete")
	var providers []stsfake.Provider
	fs.Func("sts-provider", "JSON `file` of an STS provider (as POST /_admin/v1/sts/providers); repeatable", func(name string) error {
		var p stsfake.Provider
		if err := readJSON(name, &p); err != nil {
			return err
		}
		providers = append(providers, p)
		return nil
	})
	var crunOpts []cloudrunfake.Option
	fs.Func("fail-image", "`image` reference whose revisions fail to become ready; repeatable", func(image string) error {
		crunOpts = append(crunOpts, cloudrunfake.WithFailingImage(image, "the container failed to start (emulator -fail-image)"))
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	var claims map[string]any
	if *claimsFile != "" {
		if err := readJSON(*claimsFile, &claims); err != nil {
			return fmt.Errorf("-github-claims: %w", err)
		}
	}
	if *manual {
		crunOpts = append(crunOpts, cloudrunfake.WithManualOperations())
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; usage: emulator [-addr HOST] [-port PORT] [-project ID] [-region LOCATION] [-repository ID]", fs.Args())
	}
	if *port < 0 || *port > 65535 {
		return fmt.Errorf("-port %d is not in 0..65535", *port)
	}
	if *repo != "" && (*project == "" || *region == "") {
		return fmt.Errorf("-project %q and -region %q must both be set to seed repository %q (or pass -repository \"\")", *project, *region, *repo)
	}
	set, err := emulators.Start(ctx,
		emulators.WithAddress(net.JoinHostPort(*host, strconv.Itoa(*port))),
		emulators.WithProject(*project), emulators.WithRegion(*region), emulators.WithRepository(*repo),
		emulators.WithCloudRunOptions(append(crunOpts, cloudrunfake.WithMaxRequests(maxRequests))...),
		emulators.WithArtifactRegistryOptions(artifactregistryfake.WithMaxRequests(maxRequests)),
		emulators.WithResourceManagerOptions(resourcemanagerfake.WithMaxRequests(maxRequests)),
		emulators.WithMonitoringOptions(monitoringfake.WithMaxRequests(maxRequests)),
		emulators.WithIAMOptions(iamfake.WithMaxRequests(maxRequests)),
		emulators.WithSTSOptions(stsfake.WithMaxRequests(maxRequests)),
	)
	if err != nil {
		return err
	}
	defer set.Close()
	for _, p := range providers {
		if err := set.STS().AddProvider(p); err != nil {
			return fmt.Errorf("-sts-provider %s: %w", p.Name, err)
		}
	}
	if claims != nil {
		set.STS().SetActionsClaims(claims)
	}
	if _, err := fmt.Fprintf(stdout, "export %s=%s\nexport CLOUDRUN_EMULATOR_HOST=%s\n# %s\n# admin API: %s\n", emulators.EnvEmulatorHost, set.Addr, set.Addr, set.Summary(), set.Endpoints().Admin); err != nil {
		return fmt.Errorf("printing the export lines: %w", err)
	}
	<-ctx.Done()
	return set.Close()
}

// readJSON decodes the JSON file name into v, refusing unknown fields.
func readJSON(name string, v any) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
