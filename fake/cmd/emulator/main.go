// Command emulator serves twostage's in-process emulators of Google Cloud
// APIs as one standalone program for local play. Today it serves the Cloud
// Run Admin API v2 (package cloudrunfake); more emulators join the table in
// emulators.
//
// Usage:
//
//	emulator [-addr 127.0.0.1] [-port 0]
//
// It prints one shell line per emulator, such as
//
//	export CLOUDRUN_EMULATOR_HOST=127.0.0.1:41234
//
// and serves until SIGINT or SIGTERM. Connect a client with
// option.WithEndpoint($CLOUDRUN_EMULATOR_HOST), option.WithoutAuthentication()
// and an insecure gRPC dial option.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/twostage/twostage/fake/cloudrunfake"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "emulator:", err)
		os.Exit(1)
	}
}

// emulator is one API the program serves.
type emulator struct {
	// env is the environment variable that carries its address.
	env string
	// start serves it on addr and returns its address and a stop function.
	start func(addr string) (listening string, stop func() error, err error)
}

// emulators lists what the program serves; add registry or STS emulators
// here, each on its own port.
func emulators() []emulator {
	return []emulator{{
		env: "CLOUDRUN_EMULATOR_HOST",
		start: func(addr string) (string, func() error, error) {
			// Bound the request log: the program may run for days.
			srv, err := cloudrunfake.NewServer(cloudrunfake.WithAddress(addr), cloudrunfake.WithMaxRequests(10000))
			if err != nil {
				return "", nil, err
			}
			return srv.Addr, srv.Close, nil
		},
	}}
}

// run starts every emulator, prints its export line to stdout and serves
// until ctx is done.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	host := fs.String("addr", "127.0.0.1", "host or IP `address` to listen on")
	port := fs.Int("port", 0, "TCP `port` of the first emulator; the next ones take the following ports (0: free ports)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; usage: emulator [-addr HOST] [-port PORT]", fs.Args())
	}
	if *port < 0 || *port > 65535 {
		return fmt.Errorf("-port %d is not in 0..65535", *port)
	}
	var stops []func() error
	defer func() {
		for _, stop := range stops {
			_ = stop() // shutting down: nothing left to report to
		}
	}()
	for i, e := range emulators() {
		p := 0
		if *port != 0 {
			p = *port + i
		}
		addr, stop, err := e.start(net.JoinHostPort(*host, strconv.Itoa(p)))
		if err != nil {
			return fmt.Errorf("starting %s emulator: %w", e.env, err)
		}
		stops = append(stops, stop)
		if _, err := fmt.Fprintf(stdout, "export %s=%s\n", e.env, addr); err != nil {
			return fmt.Errorf("printing %s: %w", e.env, err)
		}
	}
	<-ctx.Done()
	return nil
}
