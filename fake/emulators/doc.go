// Package emulators serves every twostage emulator of Google Cloud (and of
// GitHub's token endpoints) on ONE address, so that one environment
// variable, TWOSTAGE_EMULATOR_HOST=127.0.0.1:PORT (like
// PUBSUB_EMULATOR_HOST), is enough for every client. [Start] returns a
// [Set]: its address, typed accessors to each emulator for test control,
// and the options and URLs that connect clients. The program
// fake/cmd/emulator is a thin wrapper around it.
//
// # Routing
//
// One HTTP server speaks HTTP/1.1 and HTTP/2 without TLS (h2c, "prior
// knowledge", as gRPC clients dial) and routes each request by the table
// below ([Set.Routes]). The rows are disjoint (a test and a fuzz target
// check that no request matches two), so their order does not matter.
//
//	request                                     emulator               API
//	Content-Type: application/grpc*, any path   cloudrunfake           google.cloud.run.v2.Services, Revisions
//	                                            artifactregistryfake   google.devtools.artifactregistry.v1.ArtifactRegistry
//	                                            resourcemanagerfake    google.cloud.resourcemanager.v3.Projects
//	                                            monitoringfake         google.monitoring.v3.MetricService
//	                                            (both the first two)   google.longrunning.Operations
//	Host: ….run.app (not gRPC), any path        cloudrunfake           the data plane: service and tag URLs,
//	                                                                   routed by the traffic split
//	/v2/… (not /v2/projects/…)                  artifactregistryfake   OCI distribution (docker push, ggcr remote)
//	/v1/token                                   stsfake                STS token exchange
//	/v1/projects/-/serviceAccounts/E:generateAccessToken
//	  (and :generateIdToken, :signBlob, :signJwt) stsfake              IAM Credentials
//	/.well-known/…                              stsfake                OIDC discovery document and JWKS
//	/actions/token                              stsfake                GitHub Actions ID token request
//	/v1/projects/P/…workloadIdentityPools…,
//	/v1/projects/P/serviceAccounts/…            iamfake                IAM v1: workload identity pools and
//	                                                                   providers, service-account IAM policies
//	GET /v1/endpoints                           emulators              [Endpoints] as JSON
//	/_admin/v1…                                 emulators              the admin API (below)
//	/v2/projects/P/locations/L/…                cloudrunfake           REST/JSON of Cloud Run v2 (services,
//	                                                                   revisions, operations)
//	/v1/projects/P/… (not IAM, IAM Credentials) artifactregistryfake   REST/JSON of Artifact Registry v1
//	/v3/…                                       resourcemanagerfake,   REST/JSON of Resource Manager v3 and
//	                                            monitoringfake         Monitoring v3
//
// The REST/JSON surfaces are transcoded from the APIs' google.api.http
// annotations into calls of the same gRPC services (internal/emulator's
// REST, connectrpc.com/vanguard), so request logs, injected faults and
// latency apply to them as to gRPC; errors have Google's JSON error shape.
// The endpoint of a REST client is [Endpoints].REST, "http://ADDR".
// Anything else, including a REST path no google.api.http rule matches,
// answers HTTP 404 (or gRPC UNIMPLEMENTED) naming what is served.
// google.longrunning.Operations is served by both Cloud Run and Artifact
// Registry: each call goes to Cloud Run first and, when it
// answers NOT_FOUND or UNIMPLEMENTED, to Artifact Registry, so an
// operation is found wherever it was created (their names differ). The
// Cloud Run emulator's request log therefore also records the Operations
// calls meant for Artifact Registry.
//
// # IAM
//
// IAM is enforced by default (the WithIAM of cloudrunfake,
// artifactregistryfake, resourcemanagerfake and monitoringfake; not yet
// of iamfake, whose pools and service-account policies anyone may change): a call that carries a bearer token minted by the STS or IAM
// Credentials emulator (or stsfake's MintAccessToken, for a named
// principal) must hold the method's permission through the policies of
// the resource, its project (Resource Manager's, seeded with the project
// of [WithProject] and [WithProjectNumber]) or, for actAs, the service
// account (IAM's); an unknown token is UNAUTHENTICATED. A call without a
// token acts as the project's owner, so clients that send no credentials
// keep working; [WithStrictIAM] refuses them instead, [WithoutIAM] checks
// nothing. TestLeastPrivilege applies wif/provision's GitHub setup and
// shows each keyless identity limited to its step.
//
// # The admin API
//
// What a Go test sets with the emulators' methods, a client in any
// language sets over HTTP and JSON under [AdminPath] ("/_admin/v1"; Google
// serves no path starting with "/_"); GET /_admin/v1 lists the methods
// with example bodies:
//
//	GET  /_admin/v1/github                    requestURL and requestToken (ACTIONS_ID_TOKEN_REQUEST_*), issuer, JWKS
//	PUT  /_admin/v1/github/claims             the claims of the Actions tokens
//	POST /_admin/v1/sts/providers             register a provider with STS
//	POST /_admin/v1/sts/impersonation         let members impersonate a service account
//	PUT  /_admin/v1/run/operations            {"manual": true}: keep Cloud Run operations pending
//	POST /_admin/v1/run/operations:complete   complete the pending ones
//	POST /_admin/v1/run/failing-images        revisions of an image fail to become ready
//	POST /_admin/v1/monitoring/samples        request_count samples
//	POST /_admin/v1/reset                     empty the request logs
//
// A bad body answers 400 INVALID_ARGUMENT naming the fix, an unknown
// method 404 with the list. fake/cmd/emulator's -github-claims,
// -sts-provider, -manual-operations and -fail-image set the same at start.
//
// # Connecting a client through the one address
//
// With ADDR the value of TWOSTAGE_EMULATOR_HOST ([Set.Addr]):
//
//   - Cloud Run (cloud.google.com/go/run/apiv2), Artifact Registry
//     (artifactregistry/apiv1), Resource Manager (resourcemanager/apiv3) and
//     Cloud Monitoring (monitoring/apiv3/v2), including the long-running
//     operations: option.WithEndpoint(ADDR),
//     option.WithoutAuthentication() and
//     option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))
//     ([Set.ClientOptions]).
//   - Their REST clients (run.NewServicesRESTClient,
//     artifactregistry.NewRESTClient, resourcemanager.NewProjectsRESTClient,
//     …), operations polled over REST included:
//     option.WithEndpoint("http://ADDR"), option.WithoutAuthentication()
//     ([Set.RESTClientOptions]); curl "http://ADDR/v2/projects/P/locations/L/services".
//   - The services themselves (their uri, urls and tag URLs,
//     "https://….run.app"): cloudrunfake.NewHTTPClient(ADDR) sends them to
//     the Cloud Run emulator's data plane, which runs each revision's code
//     (a handler registered with [WithCloudRunOptions] and
//     cloudrunfake.WithHandler, else its image from this set's registry)
//     and records request_count and request_latencies in the Monitoring
//     emulator, visible after its 3-minute ingestion delay.
//   - The OCI registry, the emulated LOCATION-docker.pkg.dev: the image
//     "ADDR/PROJECT/REPOSITORY/IMAGE:TAG" over plain HTTP, parsed with
//     go-containerregistry's name.Insecure (name.ParseReference(ref,
//     name.Insecure)); no authentication ([Set.RegistryHost],
//     [Set.ImageRepository]). A pushed image appears in the Artifact
//     Registry API as package IMAGE of PROJECT/REPOSITORY.
//   - IAM v1 (google.golang.org/api/iam/v1):
//     option.WithEndpoint("http://ADDR/") and
//     option.WithoutAuthentication() ([Set.IAMClientOptions]).
//   - STS: externalaccount.Config.TokenURL = "http://ADDR/v1/token"
//     ([Set.TokenURL]); service-account impersonation through IAM
//     Credentials at "http://ADDR/v1/projects/-/serviceAccounts/EMAIL:generateAccessToken"
//     ([Set.IAMCredentialsURL] is the base "http://ADDR").
//   - GitHub Actions OIDC: ACTIONS_ID_TOKEN_REQUEST_URL =
//     "http://ADDR/actions/token?api-version=2.0" ([Set.ActionsRequestURL])
//     with ACTIONS_ID_TOKEN_REQUEST_TOKEN = Set.STS().RequestToken(); the
//     issuer's discovery document is at
//     "http://ADDR/.well-known/openid-configuration" and names its JWKS on
//     ADDR too. The tokens' issuer is stsfake's (by default GitHub's,
//     https://token.actions.githubusercontent.com, so that providers
//     configured for GitHub accept them).
//   - A client that knows only ADDR may ask GET http://ADDR/v1/endpoints
//     for every address above as JSON ([Endpoints]).
//
// By default the set seeds one Artifact Registry DOCKER repository,
// projects/my-project/locations/us-central1/repositories/apps (the
// defaults of `twostage init`), and nothing else: Resource Manager knows no
// project and IAM no service account until seeded through
// [WithResourceManagerOptions] and [WithIAMOptions].
//
// Every emulator is mounted on the one server, with no listener of its
// own, no forwarder and no proxy: the gRPC emulators by their Register
// method on one grpc.Server, the HTTP ones (iamfake, stsfake, the OCI
// registry of artifactregistryfake) by their handlers. The OIDC discovery
// document names its JWKS on the host it was asked on, so on ADDR.
package emulators
