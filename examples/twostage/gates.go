package main

import (
	"context"
	"fmt"
	"path/filepath"

	"golang.org/x/oauth2"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/examples/twostage/internal/config"
	"github.com/twostage/twostage/examples/twostage/internal/metricsfile"
	"github.com/twostage/twostage/pipeline/gittag"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
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
	return gittag.Verifier{Dir: filepath.Dir(a.cfgPath), AllowedSigners: a.rel(a.cfg.Release.AllowedSigners)}
}

// metrics returns the gates' metrics source for one prod region.
func (a *app) metrics(region string) (analysis.Metrics, error) {
	switch m := a.cfg.Rollout.Metrics; m.Source {
	case config.MetricsFile:
		return metricsfile.Source{Path: a.rel(m.File), Region: region}, nil
	default:
		// traffic/analysis/cloudmonitoring has not landed in this module
		// yet; when it does, it plugs in here.
		return nil, fmt.Errorf("%s: rollout.metrics.source %q: Cloud Monitoring metrics are not available in this build of twostage yet; use source: file for local play, or remove the gates (steps then pass when baked): %w", a.cfg.File(), m.Source, twostage.ErrInvalid)
	}
}

// gates builds the configured gates for one prod region.
func (a *app) gates(clock twostage.Clock, region string) ([]traffic.Gate, error) {
	if len(a.cfg.Rollout.Gates) == 0 {
		return nil, nil
	}
	m, err := a.metrics(region)
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
			gate, err = analysis.NewSequential(m, opts...)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: rollout.gates[%d]: %w", a.cfg.File(), i+1, err)
		}
		gates = append(gates, gate)
	}
	return gates, nil
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

// tokenSource is the keyless GitHub Actions token source: the job's OIDC
// token exchanged at STS (and, with wif.service-account, impersonated).
func (a *app) tokenSource(ctx context.Context) (oauth2.TokenSource, error) {
	p, err := a.wifProvider()
	if err != nil {
		return nil, err
	}
	supplier, err := wif.FromGitHubActions(p.DefaultTokenAudience())
	if err != nil {
		return nil, fmt.Errorf("keyless auth from GitHub Actions: %w", err)
	}
	var opts []wif.TokenOption
	if sa := a.cfg.WIF.ServiceAccount; sa != "" {
		opts = append(opts, wif.WithImpersonation(sa))
	}
	ts, err := wif.TokenSource(ctx, p, supplier, opts...)
	if err != nil {
		return nil, fmt.Errorf("keyless auth through %s: %w", p.Name(), err)
	}
	return ts, nil
}
