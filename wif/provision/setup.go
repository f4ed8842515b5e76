package provision

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/wif"
)

// ResourceKind is the kind of Google Cloud resource a [Binding] grants a
// role on. Each kind has its own IAM policy API (see [PolicyStore]).
type ResourceKind string

// The resource kinds a [Setup] can bind roles on.
const (
	// ResourceProject is a project, "projects/PROJECT" (Resource Manager).
	ResourceProject ResourceKind = "project"
	// ResourceRepository is an Artifact Registry repository,
	// "projects/PROJECT/locations/LOCATION/repositories/REPOSITORY".
	ResourceRepository ResourceKind = "artifactregistry.repository"
	// ResourceServiceAccount is a service account,
	// "projects/PROJECT/serviceAccounts/EMAIL" (IAM v1).
	ResourceServiceAccount ResourceKind = "iam.serviceAccount"
	// ResourceRunService is a Cloud Run service,
	// "projects/PROJECT/locations/REGION/services/SERVICE".
	ResourceRunService ResourceKind = "run.service"
)

// Stage names a [Resource] may carry, so that [Lint] and [Simulate] know
// which resources serve production.
const (
	StageDev  = "dev"
	StageProd = "prod"
)

// Resource is a Google Cloud resource that holds an IAM policy.
type Resource struct {
	// Kind selects the policy API.
	Kind ResourceKind
	// Name is the full resource name, in the form of its Kind.
	Name string
	// Stage is "dev", "prod" or empty. It is informational (not part of the
	// resource's identity): [Lint] refuses a prod resource that a branch or
	// pull request could reach.
	Stage string
}

// String returns "KIND NAME".
func (r Resource) String() string { return string(r.Kind) + " " + r.Name }

// ProjectResource returns the project resource "projects/PROJECT".
func ProjectResource(project string) Resource {
	return Resource{Kind: ResourceProject, Name: "projects/" + project}
}

// RepositoryResource returns an Artifact Registry repository.
func RepositoryResource(project, location, repository string) Resource {
	return Resource{Kind: ResourceRepository, Name: fmt.Sprintf("projects/%s/locations/%s/repositories/%s", project, location, repository)}
}

// ServiceAccountResource returns a service account by email.
func ServiceAccountResource(project, email string) Resource {
	return Resource{Kind: ResourceServiceAccount, Name: fmt.Sprintf("projects/%s/serviceAccounts/%s", project, email)}
}

// RunServiceResource returns a Cloud Run service; stage is "dev", "prod"
// or empty.
func RunServiceResource(project, region, service, stage string) Resource {
	return Resource{Kind: ResourceRunService, Name: fmt.Sprintf("projects/%s/locations/%s/services/%s", project, region, service), Stage: stage}
}

// shape returns the name segments expected for a kind (upper-case ones are
// variable), or nil for an unknown kind.
func (k ResourceKind) shape() []string {
	switch k {
	case ResourceProject:
		return []string{"projects", "PROJECT"}
	case ResourceRepository:
		return []string{"projects", "PROJECT", "locations", "LOCATION", "repositories", "REPOSITORY"}
	case ResourceServiceAccount:
		return []string{"projects", "PROJECT", "serviceAccounts", "EMAIL"}
	case ResourceRunService:
		return []string{"projects", "PROJECT", "locations", "REGION", "services", "SERVICE"}
	}
	return nil
}

// Validate checks the kind and the shape of the name.
func (r Resource) Validate() error {
	shape := r.Kind.shape()
	if shape == nil {
		return fmt.Errorf("resource %q: unknown kind %q (want project, artifactregistry.repository, iam.serviceAccount or run.service): %w", r.Name, r.Kind, twostage.ErrInvalid)
	}
	parts := strings.Split(r.Name, "/")
	ok := len(parts) == len(shape)
	for i := 0; ok && i < len(parts); i++ {
		variable := shape[i] == strings.ToUpper(shape[i])
		ok = parts[i] != "" && (variable || parts[i] == shape[i])
	}
	if !ok {
		return fmt.Errorf("%s name %q: want %q: %w", r.Kind, r.Name, strings.Join(shape, "/"), twostage.ErrInvalid)
	}
	if r.Kind == ResourceServiceAccount && !strings.Contains(parts[3], "@") {
		return fmt.Errorf("service account name %q: the last segment must be the account's email: %w", r.Name, twostage.ErrInvalid)
	}
	if r.Stage != "" && r.Stage != StageDev && r.Stage != StageProd {
		return fmt.Errorf("resource %q: stage %q is not %q, %q or empty: %w", r.Name, r.Stage, StageDev, StageProd, twostage.ErrInvalid)
	}
	return nil
}

// Expr is an IAM condition (a CEL expression over the request, such as
// request.time), the google.type.Expr of a policy binding.
type Expr struct {
	Title       string
	Description string
	Expression  string
}

// Binding grants Role to Member on Resource, optionally under Condition.
type Binding struct {
	Resource Resource
	// Role is "roles/NAME" or a custom role "projects/P/roles/NAME".
	Role string
	// Member is an IAM principal: principal://…, principalSet://…,
	// serviceAccount:EMAIL, user:EMAIL, group:EMAIL, domain:DOMAIN, or
	// allUsers / allAuthenticatedUsers.
	Member string
	// Condition restricts the grant; nil for none. A conditional binding
	// makes the policy version 3.
	Condition *Expr
}

// String returns "ROLE member MEMBER on KIND NAME [if TITLE]".
func (b Binding) String() string {
	s := fmt.Sprintf("%s member %s on %s", b.Role, b.Member, b.Resource)
	if b.Condition != nil {
		s += fmt.Sprintf(" if %q", b.Condition.Expression)
	}
	return s
}

// key identifies a binding regardless of Resource.Stage.
func (b Binding) key() string {
	k := string(b.Resource.Kind) + "\x00" + b.Resource.Name + "\x00" + b.Role + "\x00" + b.Member
	if b.Condition != nil {
		k += "\x00" + b.Condition.Title + "\x00" + b.Condition.Description + "\x00" + b.Condition.Expression
	}
	return k
}

// Setup declares the keyless deployment identity of one project: a pool, a
// provider and the role bindings its principals get. [Manager.Plan]
// compares it with what exists, [Manager.Apply] makes it so, [Simulate]
// shows what a token would get, [Lint] finds the unsafe parts, and
// [RenderGcloud] / [RenderTerraform] print it for review.
type Setup struct {
	// Project is the project ID that holds the pool and the resources.
	Project string
	// ProjectNumber is the project's number, used in pool names and
	// principal identifiers.
	ProjectNumber string
	// Pool is the workload identity pool.
	Pool wif.Pool
	// Provider is the pool's provider, usually [wif.GitHubProvider].
	Provider wif.Provider
	// Bindings are the role grants to create. Apply only adds them; it
	// never removes a binding or a member it did not declare.
	Bindings []Binding
	// Repo is the GitHub repository the setup is for, when known. [Lint]
	// uses it to simulate tokens from branches and pull requests, and the
	// adversarial claim sets of [GitHubProbes].
	Repo wif.GitHubRepo
	// DevBranch and ProdEnvironment are the branch and the GitHub
	// Environment the setup trusts ([GitHubSetup] sets them); [Lint]
	// builds its adversarial claim sets with them. Empty means "main" and
	// "production".
	DevBranch, ProdEnvironment string
	// Assumptions are the GitHub settings the identity model relies on and
	// no IAM policy can enforce (branch protection, tag rulesets,
	// environment branch rules), one sentence each. [GitHubSetup] fills
	// them; [RenderGcloud] and [RenderTerraform] print them as comments.
	Assumptions []string
}

// Validate checks the setup: names and IDs, that the provider belongs to
// the pool, that its mapping and condition compile (with [Evaluate]),
// and that every binding names a valid resource, role and member (a
// federated member of the setup's own pool). Errors match
// [twostage.ErrInvalid]; all problems are reported, joined.
func (s Setup) Validate() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("wif: setup: "+format, args...))
	}
	if s.Project == "" {
		add("Project is empty: set the project ID: %w", twostage.ErrInvalid)
	}
	if err := wif.ValidateProjectNumber(s.ProjectNumber); err != nil {
		add("ProjectNumber: %w", err)
	}
	if s.Pool.Number() != s.ProjectNumber {
		add("Pool is in project %q, want ProjectNumber %q: %w", s.Pool.Number(), s.ProjectNumber, twostage.ErrInvalid)
	}
	if err := wif.ValidatePoolID(s.Pool.ID); err != nil {
		add("%w", err)
	}
	if s.Provider.Pool.ID != s.Pool.ID || s.Provider.Pool.Number() != s.Pool.Number() {
		add("Provider belongs to pool %q, want %q: %w", s.Provider.Pool.Name(), s.Pool.Name(), twostage.ErrInvalid)
	}
	if err := wif.ValidateProviderID(s.Provider.ID); err != nil {
		add("%w", err)
	}
	if !strings.HasPrefix(s.Provider.IssuerURI(), "https://") {
		add("provider issuer %q is not an https URL: %w", s.Provider.IssuerURI(), twostage.ErrInvalid)
	}
	if _, err := Evaluate(s.Provider, wif.Claims{}); err != nil {
		add("%w", err)
	}
	seen := map[string]bool{}
	for i, b := range s.Bindings {
		if err := b.validate(s.Pool, s.Provider.AttributeMapping); err != nil {
			add("binding %d: %w", i, err)
		}
		if seen[b.key()] {
			add("binding %d (%s) is declared twice: %w", i, b, twostage.ErrInvalid)
		}
		seen[b.key()] = true
	}
	return errors.Join(errs...)
}

func (b Binding) validate(pool wif.Pool, mapping map[string]string) error {
	if err := b.Resource.Validate(); err != nil {
		return err
	}
	if !strings.HasPrefix(b.Role, "roles/") && !(strings.HasPrefix(b.Role, "projects/") && strings.Contains(b.Role, "/roles/")) {
		return fmt.Errorf("role %q: want roles/NAME or projects/P/roles/NAME: %w", b.Role, twostage.ErrInvalid)
	}
	if b.Condition != nil && strings.TrimSpace(b.Condition.Expression) == "" {
		return fmt.Errorf("%s: condition has no expression (use a nil Condition for none): %w", b.Role, twostage.ErrInvalid)
	}
	m := b.Member
	switch {
	case strings.HasPrefix(m, "principal://"), strings.HasPrefix(m, "principalSet://"):
		p, err := wif.ParsePrincipal(m)
		if err != nil {
			return err
		}
		if p.Pool.ID != pool.ID || p.Pool.Number() != pool.Number() {
			return fmt.Errorf("member %q is in pool %q, not the setup's pool %q: %w", m, p.Pool.Name(), pool.Name(), twostage.ErrInvalid)
		}
		if _, ok := mapping["attribute."+p.Attribute]; p.Kind == wif.KindAttribute && !ok {
			return fmt.Errorf("member %q names attribute.%s, which the provider does not map: it would match no token; add it to Provider.AttributeMapping: %w", m, p.Attribute, twostage.ErrInvalid)
		}
	case m == "allUsers", m == "allAuthenticatedUsers":
		if b.Resource.Kind == ResourceProject {
			// "Project does not support allUsers and allAuthenticatedUsers as
			// members" (resourcemanagerpb ProjectsServer.SetIamPolicy).
			return fmt.Errorf("member %s cannot be granted on a project: %w", m, twostage.ErrInvalid)
		}
	default:
		typ, rest, ok := strings.Cut(m, ":")
		if !ok || rest == "" || !slices.Contains([]string{"serviceAccount", "user", "group", "domain"}, typ) {
			return fmt.Errorf("member %q: want principal://…, principalSet://…, serviceAccount:EMAIL, user:EMAIL, group:EMAIL, domain:DOMAIN, allUsers or allAuthenticatedUsers: %w", m, twostage.ErrInvalid)
		}
	}
	return nil
}

// Clone returns a deep copy of s.
func (s Setup) Clone() Setup {
	s.Provider = s.Provider.Clone()
	s.Bindings = slices.Clone(s.Bindings)
	s.Assumptions = slices.Clone(s.Assumptions)
	for i, b := range s.Bindings {
		if b.Condition != nil {
			c := *b.Condition
			s.Bindings[i].Condition = &c
		}
	}
	return s
}

// resources returns the distinct resources of the bindings, in first-use
// order.
func (s Setup) resources() []Resource {
	seen := map[string]bool{}
	var out []Resource
	for _, b := range s.Bindings {
		k := string(b.Resource.Kind) + " " + b.Resource.Name
		if !seen[k] {
			seen[k] = true
			out = append(out, b.Resource)
		}
	}
	return out
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
