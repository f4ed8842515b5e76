package main

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	arapi "cloud.google.com/go/artifactregistry/apiv1"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	runapi "cloud.google.com/go/run/apiv2"
	iamv1 "google.golang.org/api/iam/v1"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/examples/twostage/internal/config"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
)

// wifSetup is the provision.Setup twostage.yaml describes, if complete
// and valid.
func (a *app) wifSetup() (provision.Setup, bool) {
	s, ok, err := a.wifSetupErr()
	return s, ok && err == nil
}

// wifSetupErr is the provision.Setup twostage.yaml describes: ok is false
// when the wif: section is incomplete; the error says why a complete one
// cannot be built. The identities are event-exact: dev for a push to the
// branch, release for a push of a tag matching release.tag-pattern (the
// pattern `twostage release` enforces), promote for a workflow_dispatch or
// schedule run on the branch in wif.prod-environment (default
// "production", the environment of promote.yml's decide job) or in
// ENV-resume (its resume job).
func (a *app) wifSetupErr() (provision.Setup, bool, error) {
	c := a.cfg
	w := c.WIF
	if c.ProjectNumber == "" || w.Repository == "" || w.RepositoryID == "" || w.OwnerID == "" || c.Services.RuntimeServiceAccount == "" {
		return provision.Setup{}, false, nil
	}
	owner, name, _ := strings.Cut(w.Repository, "/")
	prodEnv := cmp.Or(w.ProdEnvironment, "production")
	s, err := provision.GitHubSetup(provision.GitHubConfig{
		Project: c.Project, ProjectNumber: c.ProjectNumber,
		Repo:   wif.GitHubRepo{Owner: owner, Name: name, OwnerID: w.OwnerID, ID: w.RepositoryID},
		PoolID: w.Pool, ProviderID: w.Provider, Region: c.Region, ProdRegions: c.Services.ProdRegions,
		RepositoryLocation: c.Registry.Location, Repository: c.Registry.Repository,
		DevService: c.Services.Dev, ProdService: c.Services.Prod, RuntimeServiceAccount: c.Services.RuntimeServiceAccount,
		DevBranch: c.Branch, ReleaseTagPattern: c.Release.TagPattern, ProdEnvironment: prodEnv,
		// The job that resumes a rollout a person started runs in
		// ENV-resume (no reviewers): promote too (README: concurrency and
		// approvals).
		PromoteEnvironments: []string{prodEnv + "-resume"},
		PublicInvoker:       w.PublicInvoker, MonitoringReader: c.Rollout.Metrics.Source == config.MetricsCloudMonitoring,
	})
	if err != nil {
		return provision.Setup{}, true, fmt.Errorf("%s: wif: %w", c.File(), err)
	}
	return s, true, nil
}

type wifResult struct {
	Findings []provision.LintFinding `json:"findings,omitempty"`
	Sim      *provision.SimResult    `json:"simulation,omitempty"`
	Script   string                  `json:"script,omitempty"`
	Plan     string                  `json:"plan,omitempty"`
	text     string
}

func (r wifResult) Text() string { return r.text }

func (a *app) cmdWIF(ctx context.Context, args []string) (any, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return nil, usagef("wif needs a subcommand: lint, simulate, render, plan or apply")
	}
	sub, rest := args[0], args[1:]
	fs := a.flags("wif " + sub)
	event := fs.String("event", "push", "simulate: the GitHub event (push, pull_request, workflow_dispatch, …)")
	ref := fs.String("ref", "", "simulate: the git ref (default refs/heads/BRANCH)")
	format := fs.String("format", "gcloud", "render: gcloud or terraform")
	environment := fs.String("environment", "", "simulate: the job's GitHub Environment")
	if err := a.parse(fs, rest); err != nil {
		return nil, err
	}
	if err := a.load(); err != nil {
		return nil, err
	}
	s, ok, err := a.wifSetupErr()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: the wif section needs project-number, services.runtime-service-account, wif.repository, wif.repository-id and wif.owner-id: %w", a.cfg.File(), twostage.ErrInvalid)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var out wifResult
	switch sub {
	case "lint":
		out.Findings = provision.Lint(s)
		var b strings.Builder
		for _, f := range out.Findings {
			fmt.Fprintln(&b, f.String())
		}
		if len(out.Findings) == 0 {
			fmt.Fprintf(&b, "no findings (%d adversarial claim sets simulated, none gets a stage)\n", len(provision.GitHubProbes(s.Repo, s.DevBranch, s.ProdEnvironment)))
		}
		out.text = b.String()
		for _, f := range out.Findings {
			if strings.EqualFold(fmt.Sprint(f.Severity), "error") {
				return out, fmt.Errorf("wif lint: %s: %w", f.Message, twostage.ErrPolicy)
			}
		}
		return out, nil
	case "simulate":
		if *ref == "" {
			*ref = "refs/heads/" + a.cfg.Branch
		}
		claims := wif.GitHubClaims(s.Repo, *event, *ref)
		if *environment != "" {
			claims["environment"] = *environment
		}
		res, err := provision.Simulate(s, claims)
		if err != nil {
			return nil, err
		}
		out.Sim = &res
		if res.Accepted {
			out.text = fmt.Sprintf("a %s token for %s is accepted; roles: %s\n", *event, *ref, strings.Join(res.Roles(), ", "))
		} else {
			out.text = fmt.Sprintf("a %s token for %s is refused: %s\n", *event, *ref, res.Reason)
		}
		return out, nil
	case "render":
		switch *format {
		case "gcloud":
			out.Script = provision.RenderGcloud(s)
		case "terraform":
			out.Script = provision.RenderTerraform(s)
		default:
			return nil, usagef("--format %q: use gcloud or terraform", *format)
		}
		out.text = out.Script
		return out, nil
	case "plan", "apply":
		m, err := a.wifManager(ctx)
		if err != nil {
			return nil, err
		}
		plan, err := m.Plan(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("wif plan: %w", err)
		}
		out.Plan, out.text = plan.String(), plan.String()
		if sub == "apply" && !plan.Empty() {
			if err := m.Apply(ctx, plan); err != nil {
				return out, fmt.Errorf("wif apply: %w", err)
			}
			out.text += "applied\n"
		}
		return out, nil
	}
	return nil, usagef("unknown wif subcommand %q: use lint, simulate, render, plan or apply", sub)
}

// wifManager connects the provision.Manager to IAM, Resource Manager, Cloud Run
// and Artifact Registry with the caller's credentials (an administrator's
// Application Default Credentials: `wif apply` creates the identity the
// workflows then use).
func (a *app) wifManager(ctx context.Context) (*provision.Manager, error) {
	if a.env("TWOSTAGE_EMULATOR_HOST") != "" {
		return nil, fmt.Errorf("wif plan/apply talk to IAM, which the local emulator does not serve; use `twostage wif lint`, `simulate` or `render` offline: %w", twostage.ErrInvalid)
	}
	iamSvc, err := iamv1.NewService(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to IAM: %w", err)
	}
	projects, err := resourcemanager.NewProjectsClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to Resource Manager: %w", err)
	}
	services, err := runapi.NewServicesClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to Cloud Run: %w", err)
	}
	repos, err := arapi.NewClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to Artifact Registry: %w", err)
	}
	return provision.NewManager(
		provision.WithIAMService(iamSvc),
		provision.WithProjectsClient(projects),
		provision.WithPolicyStore(provision.ResourceRunService, provision.ClientPolicyStore(services)),
		provision.WithPolicyStore(provision.ResourceRepository, provision.ClientPolicyStore(repos)),
	), nil
}

func (r wifResult) FailureText() string { return r.Text() }
