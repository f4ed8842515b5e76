package artifactregistry

// WithREST makes New create its Artifact Registry API client over
// REST/JSON (artifactregistry.NewRESTClient) rather than gRPC, with the
// options of [WithClientOptions]; an emulator's address is given as
// option.WithEndpoint("http://HOST:PORT") with
// option.WithoutAuthentication(). The gRPC code of a REST error is the one
// its body names ("status"), not the gapic client's guess from the HTTP
// status. The default is gRPC; it is ignored when [WithClient] is given.
func WithREST() Option {
	return func(c *config) { c.rest = true }
}
