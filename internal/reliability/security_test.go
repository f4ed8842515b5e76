package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	run "cloud.google.com/go/run/apiv2"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/fake/stsfake"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/pipeline/fanout"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/wif"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// auditSink renders every audit event with all its fields.
type auditSink struct{ w *syncBuffer }

func (s auditSink) Record(_ context.Context, e pipeline.AuditEvent) error {
	fmt.Fprintf(s.w, "%+v\n", e)
	return nil
}

// bearer sends a token source's access token on every call, over the
// emulator's plain-text connection.
type bearer struct{ ts oauth2.TokenSource }

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	tok, err := b.ts.Token()
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + tok.AccessToken}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// TestNoSecretsInOutput runs the whole flow the way CI does — GitHub's
// OIDC request token in the environment, a keyless token exchange, every
// Cloud Run call authenticated with the access token, a dev override
// holding a secret value — through its success and failure paths, with
// every logger at debug level, and greps all captured output (logs, audit
// events, errors, status) for each secret.
func TestNoSecretsInOutput(t *testing.T) {
	ctx := t.Context()
	const (
		requestToken = "ghs_REQUESTTOKENsecret0123456789abcdef"
		envSecret    = "pa55w0rd-VALUE-in-an-env-override"
	)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := fake.NewClock(time.Now().Truncate(time.Second))

	sts, err := stsfake.NewServer(stsfake.WithClock(clk), stsfake.WithLogger(logger), stsfake.WithRequestToken(requestToken))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sts.Close() })
	pool := wif.Pool{Project: "my-project", ProjectNumber: "123456789012", ID: "github"}
	repoID := wif.GitHubRepo{Owner: "octo-org", Name: "octo-repo", OwnerID: "65", ID: "74"}
	prov := wif.GitHubProvider(pool, "github-actions", repoID)
	if err := sts.AddProvider(stsProvider(prov)); err != nil {
		t.Fatal(err)
	}
	sts.SetActionsClaims(wif.Claims{
		"sub": "repo:octo-org/octo-repo:ref:refs/heads/main", "ref": "refs/heads/main", "ref_type": "branch",
		"sha": sha1, "repository": "octo-org/octo-repo", "repository_owner": "octo-org", "repository_owner_id": "65",
		"repository_id": "74", "actor": "octocat", "actor_id": "12", "run_id": "1", "run_number": "1", "run_attempt": "1",
		"workflow": "deploy", "workflow_ref": "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main", "event_name": "push",
	})
	// The secrets GitHub Actions injects into the job's environment.
	t.Setenv(wif.EnvRequestURL, sts.ActionsRequestURL())
	t.Setenv(wif.EnvRequestToken, requestToken)
	gh, err := wif.FromGitHubActions("", wif.WithHTTPClient(sts.Client()), wif.WithLogger(logger), wif.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := wif.TokenSource(ctx, prov, gh, wif.WithTokenURL(sts.TokenURL()), wif.WithHTTPClient(sts.Client()), wif.WithLogger(logger), wif.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	access, err := ts.Token()
	if err != nil {
		t.Fatalf("token exchange: %v", err)
	}
	jwt, err := gh.Token(ctx, prov.DefaultTokenAudience())
	if err != nil {
		t.Fatal(err)
	}

	// Cloud Run, every call authenticated.
	srv, err := cloudrunfake.NewServer(cloudrunfake.WithClock(clk), cloudrunfake.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	copts := []option.ClientOption{
		option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithGRPCDialOption(grpc.WithPerRPCCredentials(bearer{ts})),
	}
	sc, err := run.NewServicesClient(ctx, copts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	rc, err := run.NewRevisionsClient(ctx, copts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	mk := func(name string) *cloudrun.Service {
		s, err := cloudrun.New(ctx, name, cloudrun.WithServicesClient(sc), cloudrun.WithRevisionsClient(rc), cloudrun.WithClock(clk),
			cloudrun.WithLogger(logger), cloudrun.WithRetry(twostage.Retry{Attempts: 2}))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	dev, prod := mk(devName), mk(prodName)
	reg := fake.NewRegistry()
	audit := &syncBuffer{}
	devOver := stage.Overrides{Env: map[string]string{"DB_PASSWORD": envSecret}}
	p, err := pipeline.New(reg, repo, dev, prod, pipeline.WithClock(clk), pipeline.WithLogger(logger),
		pipeline.WithDevOverrides(devOver), pipeline.WithAudit(auditSink{audit}))
	if err != nil {
		t.Fatal(err)
	}

	var out []string // every error and rendering, besides the logs
	note := func(what string, err error) {
		if err != nil {
			out = append(out, what+": "+err.Error())
		}
	}
	// The success path.
	placeholder, err := reg.Push(ctx, repo+":placeholder", fake.NewImage("placeholder"))
	note("push", err)
	_, err = prod.Deploy(ctx, stage.Release{Artifact: placeholder, Revision: "placeholder", Traffic: stage.RouteAll})
	note("create prod", err)
	_, err = p.Dev(ctx, pipeline.DevInput{SHA: sha1, Branch: "main", Image: image(sha1), Actor: "octocat"})
	note("dev", err)
	_, err = p.Release(ctx, pipeline.ReleaseInput{Tag: "v1.0.0", SHA: sha1, Actor: "octocat"})
	note("release", err)
	_, err = p.Promote(ctx, pipeline.PromoteInput{Actor: "octocat"})
	note("promote", err)
	st, err := p.Status(ctx)
	note("status", err)
	out = append(out, st.String())
	// Drift: another declaration of the dev overrides renders the live
	// settings, which hold the secret value.
	p2, err := pipeline.New(reg, repo, dev, prod, pipeline.WithClock(clk), pipeline.WithLogger(logger),
		pipeline.WithDevOverrides(stage.Overrides{Env: map[string]string{"DB_PASSWORD": "another-value"}}))
	note("new", err)
	var drift string
	if p2 != nil {
		st, err := p2.Status(ctx)
		note("status with drift", err)
		drift = st.String() + fmt.Sprintf("%+v", st.Dev.Drift)
	}
	// The failure paths.
	reg.Push(ctx, repo+":"+sha1, fake.NewImage("rebuilt"))
	_, err = p.Release(ctx, pipeline.ReleaseInput{Tag: "v1.0.1", SHA: sha1})
	note("release of a rebuilt image", err)
	srv.InjectError("/google.cloud.run.v2.Services/UpdateService", status.Error(codes.PermissionDenied, "the caller does not have permission"), -1)
	_, err = p.Dev(ctx, pipeline.DevInput{SHA: sha2, Branch: "main", Image: image(sha2)})
	note("dev denied", err)
	_, err = p.Rollback(ctx, pipeline.RollbackInput{Reason: "test"})
	note("rollback denied", err)
	srv.InjectError("/google.cloud.run.v2.Services/UpdateService", nil, 0)
	_, err = fanout.Deploy(ctx, []fanout.Destination{{Name: "api", Region: region, Stage: prod}}, stage.Release{Artifact: placeholder, Revision: "x1", Traffic: stage.RouteNone},
		fanout.WithClock(clk), fanout.WithLogger(logger))
	note("fan-out", err)
	// A token exchange the provider rejects, and a bad request token.
	sts.SetActionsClaims(wif.Claims{"repository_id": "75", "repository_owner_id": "65", "sub": "x", "repository": "octo-org/other"})
	gh2, _ := wif.FromGitHubActions("", wif.WithHTTPClient(sts.Client()), wif.WithLogger(logger), wif.WithClock(clk))
	ts2, err := wif.TokenSource(ctx, prov, gh2, wif.WithTokenURL(sts.TokenURL()), wif.WithHTTPClient(sts.Client()), wif.WithLogger(logger), wif.WithClock(clk))
	note("token source", err)
	if ts2 != nil {
		_, err = ts2.Token()
		note("rejected exchange", err)
	}
	t.Setenv(wif.EnvRequestToken, requestToken+"-wrong")
	gh3, _ := wif.FromGitHubActions("", wif.WithHTTPClient(sts.Client()), wif.WithLogger(logger), wif.WithClock(clk))
	if gh3 != nil {
		_, err = gh3.Token(ctx, prov.DefaultTokenAudience())
		note("bad request token", err)
	}

	for _, o := range out {
		if i := strings.IndexByte(o, ':'); i > 0 && !strings.HasPrefix(o, "dev:") {
			t.Logf("captured error of %s", o[:i])
		}
	}
	all := logs.String() + audit.String() + strings.Join(out, "\n")
	if len(logs.String()) == 0 || len(audit.String()) == 0 || len(out) < 5 {
		t.Fatalf("captured too little to judge: %d bytes of logs, %d of audit, %d errors", len(logs.String()), len(audit.String()), len(out))
	}
	secrets := map[string]string{
		"the GitHub OIDC request token":   requestToken,
		"the GitHub OIDC token (JWT)":     jwt,
		"the JWT's signature":             jwt[strings.LastIndex(jwt, ".")+1:],
		"the access token":                access.AccessToken,
		"the secret value of an override": envSecret,
	}
	all += drift
	for what, s := range secrets {
		if s == "" {
			t.Fatalf("%s is empty", what)
		}
		if i := strings.Index(all, s); i >= 0 {
			t.Errorf("%s appears in the output: …%s…", what, all[max(0, i-200):min(len(all), i+len(s)+40)])
		}
	}
	t.Logf("grepped %d bytes of logs, audit events, errors and status for %d secrets", len(all), len(secrets))
}

// TestInputsValidatedBeforeAnyCall checks that bad inputs from the
// environment or the configuration are refused before any API call: the
// emulators' request logs stay empty.
func TestInputsValidatedBeforeAnyCall(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newRunEnv(t)
	a := fake.NewImage("x")
	art, err := e.reg.Push(ctx, e.repo+":x", a)
	if err != nil {
		t.Fatal(err)
	}
	e.in.reset()
	bad := []struct {
		name string
		call func() error
		is   error
	}{
		{"dev: not a commit SHA", func() error {
			_, err := e.p.Dev(ctx, pipeline.DevInput{SHA: "HEAD;rm -rf /", Branch: "main", Image: a})
			return err
		}, twostage.ErrInvalid},
		{"dev: another branch", func() error {
			_, err := e.p.Dev(ctx, pipeline.DevInput{SHA: sha1, Branch: "feature/x", Image: a})
			return err
		}, twostage.ErrPolicy},
		{"release: not a release tag", func() error {
			_, err := e.p.Release(ctx, pipeline.ReleaseInput{Tag: "v1.2", SHA: sha1})
			return err
		}, twostage.ErrPolicy},
		{"release: tag with a shell injection", func() error {
			_, err := e.p.Release(ctx, pipeline.ReleaseInput{Tag: "v1.0.0$(curl evil)", SHA: sha1})
			return err
		}, twostage.ErrPolicy},
		{"release: not a SHA", func() error {
			_, err := e.p.Release(ctx, pipeline.ReleaseInput{Tag: "v1.0.0", SHA: "zz"})
			return err
		}, twostage.ErrInvalid},
		{"promote: unknown manual mode", func() error {
			_, err := e.p.Promote(ctx, pipeline.PromoteInput{Manual: "all"})
			return err
		}, twostage.ErrInvalid},
		{"deploy: bad override", func() error {
			_, err := e.prod.Deploy(ctx, stage.Release{Artifact: art, Revision: "x", Traffic: stage.RouteAll, Overrides: stage.Overrides{Memory: "lots"}})
			return err
		}, twostage.ErrInvalid},
		{"deploy: bad revision name", func() error {
			_, err := e.prod.Deploy(ctx, stage.Release{Artifact: art, Revision: "Bad_Name", Traffic: stage.RouteAll})
			return err
		}, twostage.ErrInvalid},
		{"deploy: reserved label", func() error {
			_, err := e.prod.Deploy(ctx, stage.Release{Artifact: art, Revision: "x", Traffic: stage.RouteAll, Labels: map[string]string{"run.googleapis.com/x": "y"}})
			return err
		}, twostage.ErrInvalid},
		{"set split: percents over 100", func() error {
			_, err := e.prod.SetSplit(ctx, traffic.Split{Targets: []traffic.Target{{Revision: "api-a", Percent: 100}, {Revision: "api-b", Percent: 5}}})
			return err
		}, twostage.ErrInvalid},
		{"new: bad repository", func() error {
			_, err := pipeline.New(e.reg, "not a repository", e.dev, e.prod)
			return err
		}, twostage.ErrInvalid},
		{"new: unsafe plan", func() error {
			_, err := pipeline.New(e.reg, e.repo, e.dev, e.prod, pipeline.WithPlan(traffic.Plan{Steps: []traffic.Step{{Percent: 50}, {Percent: 100}}}))
			return err
		}, twostage.ErrInvalid},
		{"cloudrun: bad service name", func() error {
			_, err := cloudrun.New(ctx, "projects/p/services/api", cloudrun.WithClientOptions(option.WithoutAuthentication()))
			return err
		}, twostage.ErrInvalid},
		{"fan-out: bad region", func() error {
			_, err := fanout.Deploy(ctx, []fanout.Destination{{Name: "api", Region: "eu west", Stage: e.prod}}, stage.Release{Artifact: art, Revision: "x", Traffic: stage.RouteAll})
			return err
		}, twostage.ErrInvalid},
		{"wif: no OIDC token in the environment", func() error {
			_, err := wif.FromGitHubActions("")
			return err
		}, wif.ErrNoIDToken},
	}
	for _, tc := range bad {
		err := tc.call()
		if !errors.Is(err, tc.is) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.is)
		}
		if calls := e.in.calls(); len(calls) != 0 {
			t.Fatalf("%s: %d API calls before the input was refused: %v", tc.name, len(calls), calls)
		}
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
