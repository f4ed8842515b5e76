package stsfake_test

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/fake/stsfake"
	"github.com/twostage/twostage/wif"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// frame is a gRPC message passed through undecoded.
type frame struct{ b []byte }

// rawCodec lets the proxy forward messages without knowing their types.
// Its name is "proto" so the content type stays application/grpc+proto.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.(*frame).b, nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	v.(*frame).b = slices.Clone(data)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// authProxy is a gRPC proxy in front of an emulator that admits only
// calls whose bearer token stsfake issued to one of members, the way
// Google's front end checks a token before Cloud Run sees the call.
type authProxy struct {
	sts     *stsfake.Server
	backend *grpc.ClientConn
	members []string // IAM members admitted

	mu      sync.Mutex // guards members and callers
	callers []string   // principal of each admitted call
}

func (p *authProxy) handle(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	md, _ := metadata.FromIncomingContext(stream.Context())
	auth := md.Get("authorization")
	if len(auth) != 1 {
		return status.Errorf(codes.Unauthenticated, "Request is missing required authentication credential (%s).", method)
	}
	id, ok := p.sts.IdentityFromHeader(auth[0])
	if !ok {
		return status.Error(codes.Unauthenticated, "Request had invalid authentication credentials.")
	}
	p.mu.Lock()
	admitted := slices.ContainsFunc(p.members, id.Matches)
	if admitted {
		p.callers = append(p.callers, id.Principal)
	}
	p.mu.Unlock()
	if !admitted {
		return status.Errorf(codes.PermissionDenied, "Permission denied for %s on %s.", id.Principal, method)
	}

	out := md.Copy()
	out.Delete("authorization")
	cs, err := p.backend.NewStream(metadata.NewOutgoingContext(stream.Context(), out),
		&grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	for {
		req := new(frame)
		if err := stream.RecvMsg(req); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		if err := cs.SendMsg(req); err != nil {
			return err
		}
	}
	if err := cs.CloseSend(); err != nil {
		return err
	}
	for {
		resp := new(frame)
		if err := cs.RecvMsg(resp); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if err := stream.SendMsg(resp); err != nil {
			return err
		}
	}
}

// bearer sends an oauth2 token as per-RPC credentials over the plain-text
// loopback connection (grpc's oauth adapter insists on TLS).
type bearer struct{ ts oauth2.TokenSource }

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	tok, err := b.ts.Token()
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + tok.AccessToken}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// TestCloudRunCallWithFederatedToken deploys to the Cloud Run emulator
// with an access token obtained from a (fake) GitHub Actions token
// through STS, and checks that the emulator side saw the federated
// principal.
func TestCloudRunCallWithFederatedToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := fake.NewClock(time.Now().Truncate(time.Second))
	sts, err := stsfake.NewServer(stsfake.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sts.Close() })
	provider := wif.GitHubProvider(pool, "github-actions", repo)
	if err := sts.AddProvider(stsProvider(provider)); err != nil {
		t.Fatal(err)
	}

	crf, err := cloudrunfake.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = crf.Close() })
	backend, err := grpc.NewClient(crf.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.Close() })
	proxy := &authProxy{sts: sts, backend: backend, members: []string{wif.RepositoryPrincipal(pool, repo).String()}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gsrv := grpc.NewServer(grpc.UnknownServiceHandler(proxy.handle), grpc.ForceServerCodec(rawCodec{}))
	go func() { _ = gsrv.Serve(lis) }()
	t.Cleanup(gsrv.Stop)

	client := func(t *testing.T, claims wif.Claims) *run.ServicesClient {
		t.Helper()
		sts.SetActionsClaims(claims)
		gh := &wif.GitHubOIDC{RequestURL: sts.ActionsRequestURL(), RequestToken: sts.RequestToken(), HTTPClient: sts.Client(), Clock: clk}
		ts, err := wif.TokenSource(ctx, provider, gh, wif.WithTokenURL(sts.TokenURL()), wif.WithHTTPClient(sts.Client()))
		if err != nil {
			t.Fatal(err)
		}
		c, err := run.NewServicesClient(ctx,
			option.WithEndpoint(lis.Addr().String()),
			option.WithoutAuthentication(), // the per-RPC credentials below carry the token
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
			option.WithGRPCDialOption(grpc.WithPerRPCCredentials(bearer{ts})),
		)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	req := &runpb.CreateServiceRequest{
		Parent:    "projects/demo/locations/us-central1",
		ServiceId: "hello",
		Service: &runpb.Service{Template: &runpb.RevisionTemplate{
			Containers: []*runpb.Container{{Image: "us-docker.pkg.dev/demo/app/hello@sha256:" + strings.Repeat("1", 64)}},
		}},
	}

	// The repository's job deploys.
	c := client(t, claims())
	op, err := c.CreateService(ctx, req)
	if err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	svc, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if svc.GetName() != "projects/demo/locations/us-central1/services/hello" {
		t.Errorf("service name = %q", svc.GetName())
	}
	if _, ok := crf.Service(svc.GetName()); !ok {
		t.Errorf("the emulator has no service %q", svc.GetName())
	}
	want := "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/subject/repo:74:run:5:1"
	proxy.mu.Lock()
	callers := slices.Clone(proxy.callers)
	proxy.mu.Unlock()
	if len(callers) == 0 || slices.IndexFunc(callers, func(c string) bool { return c != want }) >= 0 {
		t.Errorf("admitted callers = %q, want only %q", callers, want)
	}

	// A valid token whose identity is outside the binding is refused: the
	// binding now admits only jobs on refs/heads/release.
	proxy.mu.Lock()
	proxy.members = []string{wif.AttributePrincipal(pool, "ref", "refs/heads/release").String()}
	proxy.mu.Unlock()
	_, err = c.GetService(ctx, &runpb.GetServiceRequest{Name: svc.GetName()})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("GetService with a token outside the binding: %v, want PermissionDenied", err)
	}

	// Without credentials.
	anon, err := run.NewServicesClient(ctx, option.WithEndpoint(lis.Addr().String()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = anon.Close() })
	if _, err := anon.GetService(ctx, &runpb.GetServiceRequest{Name: svc.GetName()}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("GetService without a token: %v, want Unauthenticated", err)
	}
}

// stsProvider is the provider as the STS emulator takes it (stsfake
// imports nothing of package wif).
func stsProvider(p wif.Provider) stsfake.Provider {
	return stsfake.Provider{
		Name: p.Name(), IssuerURI: p.IssuerURI(), AllowedAudiences: p.AllowedAudiences,
		AttributeMapping: p.AttributeMapping, AttributeCondition: p.AttributeCondition, Disabled: p.Pool.Disabled,
	}
}
