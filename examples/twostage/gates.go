package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"golang.org/x/oauth2"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/examples/twostage/internal/backend"
	"github.com/twostage/twostage/examples/twostage/internal/config"
	"github.com/twostage/twostage/examples/twostage/internal/metricsfile"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/pipeline/gittag"
	"github.com/twostage/twostage/pipeline/prober"
	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
	"github.com/twostage/twostage/traffic/analysis/cloudmonitoring"
	"github.com/twostage/twostage/wif"
)

// rel resolves a path from the configuration relative to its directory.
func (a *app) rel(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(a.cfgPath), p)
}

// verifier is the signed-tag verifier of the repository holding the
// configuration.
func (a *app) verifier() gittag.Verifier {
	return gittag.Verifier{Dir: a.repoDir(), AllowedSigners: a.rel(a.cfg.Release.AllowedSigners)}
}

// metrics returns the gates' metrics source for one prod region.
func (a *app) metrics(ctx context.Context, clock twostage.Clock, region string) (analysis.Metrics, error) {
	switch m := a.cfg.Rollout.Metrics; m.Source {
	case config.MetricsFile:
		return metricsfile.Source{Path: a.rel(m.File), Region: region}, nil
	case config.MetricsCloudMonitoring:
		mc, err := a.metricClient(ctx)
		if err != nil {
			return nil, err
		}
		// Cloud Run's request_count of the prod service in this region,
		// complete up to 3 minutes ago (the package's default delay); on
		// the clock of the gates, so --virtual-time moves it too.
		return cloudmonitoring.New(ctx, a.cfg.Project, a.cfg.Services.Prod,
			cloudmonitoring.WithMetricClient(mc),
			cloudmonitoring.WithLocation(region),
			cloudmonitoring.WithClock(clock))
	default:
		return nil, fmt.Errorf("%s: rollout.metrics.source %q is unknown; use cloud-monitoring or file: %w", a.cfg.File(), m.Source, twostage.ErrInvalid)
	}
}

// metricClient returns the Cloud Monitoring client every region's gates
// share, created on first use and closed with the backend.
func (a *app) metricClient(ctx context.Context) (*monitoring.MetricClient, error) {
	if a.metricsClient != nil {
		return a.metricsClient, nil
	}
	// Against Google Cloud, nil options are Application Default
	// Credentials; with the emulator they mean it serves no monitoring.
	opts := a.backend.MonitoringOptions
	if a.backend.Emulated && opts == nil {
		return nil, fmt.Errorf("%s: rollout.metrics.source is cloud-monitoring, but %s names no Cloud Monitoring emulator: use the discovery form (HOST:PORT of `twostage emulator`), add monitoring=HOST:PORT, or use source: file for local play: %w", a.cfg.File(), backend.EnvEmulatorHost, twostage.ErrInvalid)
	}
	mc, err := monitoring.NewMetricClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to Cloud Monitoring for the gates: %w", err)
	}
	a.metricsClient = mc
	a.backend.AddCloser(mc.Close)
	return mc, nil
}

// gates builds the configured gates for one prod region, whose service is
// prod.
func (a *app) gates(ctx context.Context, clock twostage.Clock, region string, prod *cloudrun.Service) ([]traffic.Gate, error) {
	if len(a.cfg.Rollout.Gates) == 0 {
		return nil, nil
	}
	m, err := a.metrics(ctx, clock, region)
	if err != nil {
		return nil, err
	}
	var gates []traffic.Gate
	for i, g := range a.cfg.Rollout.Gates {
		opts := []analysis.Option{analysis.WithClock(clock)}
		if g.MinRequests != nil {
			opts = append(opts, analysis.WithMinRequests(*g.MinRequests))
		}
		var gate traffic.Gate
		switch g.Type {
		case config.GateThreshold:
			if g.MaxErrorRate != nil {
				opts = append(opts, analysis.WithMaxErrorRate(*g.MaxErrorRate))
			}
			if g.Interval != 0 {
				opts = append(opts, analysis.WithInterval(g.Interval.D()))
			}
			gate, err = analysis.NewThreshold(m, opts...)
		case config.GateSequential:
			if g.Alpha != nil {
				opts = append(opts, analysis.WithAlpha(*g.Alpha))
			}
			if g.MinDuration != 0 {
				opts = append(opts, analysis.WithMinDuration(g.MinDuration.D()))
			}
			if pr := a.localProbe(clock, prod); pr != nil {
				// The probe's requests reach Cloud Monitoring too: counted
				// once, through the probe.
				var seq *analysis.Sequential
				if seq, err = analysis.NewSequential(analysis.Subtract(m, pr), append(opts, analysis.WithProbe(pr))...); err == nil {
					gate = pr.Gate(seq)
				}
				break
			}
			gate, err = analysis.NewSequential(m, opts...)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: rollout.gates[%d]: %w", a.cfg.File(), i+1, err)
		}
		gates = append(gates, gate)
	}
	return gates, nil
}

// localProbe returns, in local play on the wall clock with the gates
// reading Cloud Monitoring, an active probe of the candidate's and the
// stable's tag URLs through the emulator's data plane (a zero-delay signal
// beside the metrics' 3-minute delay, as the library offers in production);
// nil otherwise. On a simulated clock (--virtual-time, tests) there is
// none: the probe's waits would move the clock the rollout runs on.
func (a *app) localProbe(clock twostage.Clock, prod *cloudrun.Service) *prober.Prober {
	if a.backend == nil || a.backend.DataPlane == "" || a.clock != twostage.SystemClock() || a.cfg.Rollout.Metrics.Source != config.MetricsCloudMonitoring {
		return nil
	}
	client := cloudrunfake.NewHTTPClient(a.backend.DataPlane)
	pr := prober.New(prober.GetterTagURLs(prod), prober.WithClock(clock),
		prober.WithProbeOptions(analysis.WithProbeClient(client)))
	a.backend.AddCloser(func() error { pr.Stop(); client.CloseIdleConnections(); return nil })
	return pr
}

// wifProvider is the provider twostage.yaml names.
func (a *app) wifProvider() (wif.Provider, error) {
	c := a.cfg
	if c.ProjectNumber == "" {
		return wif.Provider{}, fmt.Errorf("%s: keyless auth needs project-number (gcloud projects describe %s --format='value(projectNumber)'): %w", c.File(), c.Project, twostage.ErrInvalid)
	}
	pool := wif.Pool{Project: c.Project, ProjectNumber: c.ProjectNumber, ID: c.WIF.Pool}
	return wif.Provider{Pool: pool, ID: c.WIF.Provider}, nil
}

// keyless is the keyless GitHub Actions token source: the job's OIDC
// token (from $ACTIONS_ID_TOKEN_REQUEST_URL with the bearer
// $ACTIONS_ID_TOKEN_REQUEST_TOKEN, read through a.env) exchanged at STS
// for the provider in wif:, and with wif.service-account impersonated
// through IAM Credentials. It exchanges once before returning, so that a
// refusal (a job of another repository, a pull request, a missing
// provider) fails the command before anything is pushed or deployed, with
// STS's reason. No token appears in its errors (package wif redacts them).
//
// With the emulator (emu non-nil), STS and IAM Credentials are the
// emulator's (Endpoints.STSTokenURL, Endpoints.IAMCredentials), never
// Google's, and only a request URL on the emulator's own address is used:
// a real GitHub token is never sent to an emulator (whose STS could not
// verify it anyway). Otherwise it returns nil, and the emulated APIs are
// called without authentication, with a note on stderr.
func (a *app) keyless(ctx context.Context, emu *backend.Endpoints) (oauth2.TokenSource, error) {
	reqURL, reqTok := a.env(wif.EnvRequestURL), a.env(wif.EnvRequestToken)
	var opts []wif.Option
	if emu != nil {
		switch {
		case emu.STSTokenURL == "":
			fmt.Fprintf(a.stderr, "twostage: %s is set, but the emulator serves no STS (the discovery form of %s does, or add sts=HOST:PORT): keyless auth is skipped and the emulated APIs are called without authentication\n", wif.EnvRequestURL, backend.EnvEmulatorHost)
			return nil, nil
		case hostOf(reqURL) != hostOf(emu.STSTokenURL):
			fmt.Fprintf(a.stderr, "twostage: %s names %s, not the emulator at %s: the job's GitHub token is not sent to the emulator; keyless auth is skipped and the emulated APIs are called without authentication\n", wif.EnvRequestURL, hostOf(reqURL), hostOf(emu.STSTokenURL))
			return nil, nil
		}
		opts = append(opts, wif.WithTokenURL(emu.STSTokenURL))
		if emu.IAMCredentials != "" {
			opts = append(opts, wif.WithIAMCredentialsURL(emu.IAMCredentials))
		}
	}
	if reqTok == "" {
		return nil, fmt.Errorf("keyless auth from GitHub Actions: $%s is set but $%s is not: %w", wif.EnvRequestURL, wif.EnvRequestToken, wif.ErrNoIDToken)
	}
	p, err := a.wifProvider()
	if err != nil {
		return nil, err
	}
	if sa := a.cfg.WIF.ServiceAccount; sa != "" {
		opts = append(opts, wif.WithImpersonation(sa))
	}
	supplier := &wif.GitHubOIDC{RequestURL: reqURL, RequestToken: reqTok, Audience: p.DefaultTokenAudience()}
	ts, err := wif.TokenSource(ctx, p, supplier, opts...)
	if err != nil {
		return nil, fmt.Errorf("keyless auth through %s: %w", p.Name(), err)
	}
	if _, err := ts.Token(); err != nil {
		return nil, fmt.Errorf("keyless auth from GitHub Actions refused%s: %w", a.keylessHint(err), err)
	}
	return ts, nil
}

// keylessHint says which of the job's facts the provider refused, when
// GitHub tells them.
func (a *app) keylessHint(err error) string {
	if xe := (*wif.ExchangeError)(nil); errors.As(err, &xe) && xe.Endpoint == "iamcredentials" {
		return fmt.Sprintf(" impersonating wif.service-account %s", a.cfg.WIF.ServiceAccount)
	}
	if !errors.Is(err, wif.ErrConditionRejected) {
		return ""
	}
	w := a.cfg.WIF
	if repo := a.gh.Repository; repo != "" && !strings.EqualFold(repo, w.Repository) {
		return fmt.Sprintf(" (this job runs in repository %s, but %s allows only wif.repository %s, repository-id %s, owner-id %s)", repo, a.cfg.File(), w.Repository, w.RepositoryID, w.OwnerID)
	}
	return fmt.Sprintf(" (%s allows only wif.repository %s, repository-id %s, owner-id %s, and no pull requests)", a.cfg.File(), w.Repository, w.RepositoryID, w.OwnerID)
}

// hostOf returns the host:port of a URL, or "" when it has none.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
