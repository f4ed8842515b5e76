package cloudrun

import (
	"context"
	"fmt"

	run "cloud.google.com/go/run/apiv2"
	"google.golang.org/api/option"
)

// WithREST makes New create its Services and Revisions clients over
// REST/JSON (run.NewServicesRESTClient, run.NewRevisionsRESTClient) rather
// than gRPC, with the options of [WithClientOptions]; an emulator's
// address is given as option.WithEndpoint("http://HOST:PORT") with
// option.WithoutAuthentication(). Operations are polled over REST too
// (GET /v2/{name=projects/*/locations/*/operations/*}). The default is gRPC.
// Clients handed in with [WithServicesClient] or [WithRevisionsClient] are
// used as they are.
func WithREST() Option {
	return func(c *config) { c.rest = true }
}

// newClient creates a client with newGRPC, or newREST after [WithREST].
func newClient[C any](ctx context.Context, c *config, what string, newGRPC, newREST func(context.Context, ...option.ClientOption) (C, error)) (C, error) {
	if c.rest {
		newGRPC = newREST
	}
	cl, err := newGRPC(ctx, c.clientOpts...)
	if err != nil {
		return cl, fmt.Errorf("cloudrun: creating %s client: %w", what, err)
	}
	return cl, nil
}

// newServicesClient creates the Services client of c's transport.
func (c *config) newServicesClient(ctx context.Context) (*run.ServicesClient, error) {
	return newClient(ctx, c, "services", run.NewServicesClient, run.NewServicesRESTClient)
}

// newRevisionsClient creates the Revisions client of c's transport.
func (c *config) newRevisionsClient(ctx context.Context) (*run.RevisionsClient, error) {
	return newClient(ctx, c, "revisions", run.NewRevisionsClient, run.NewRevisionsRESTClient)
}
