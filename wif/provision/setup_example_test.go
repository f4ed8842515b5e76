package provision_test

import (
	"context"
	"fmt"
	"log"

	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	"github.com/twostage/twostage/fake/iamfake"
	"github.com/twostage/twostage/fake/resourcemanagerfake"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
	iam "google.golang.org/api/iam/v1"
)

// A setup written by hand the way many pipelines are: no attribute
// condition, google.subject from sub, and run.admin on the whole project
// for the repository by name. Lint says what is wrong and how to fix it.
func ExampleLint() {
	pool := wif.Pool{Project: "my-proj", ProjectNumber: "123456789012", ID: "github"}
	seed := provision.Setup{
		Project:       "my-proj",
		ProjectNumber: "123456789012",
		Pool:          pool,
		Provider: wif.Provider{
			Pool: pool,
			ID:   "github-actions",
			AttributeMapping: map[string]string{
				"google.subject":       "assertion.sub",
				"attribute.repository": "assertion.repository",
			},
		},
		Bindings: []provision.Binding{{
			Resource: provision.ProjectResource("my-proj"),
			Role:     "roles/run.admin",
			Member:   "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/attribute.repository/octo-org/app",
		}},
	}
	for _, f := range provision.Lint(seed) {
		fmt.Printf("%s %s\n  fix: %s\n", f.ID, f.Severity, f.Fix)
	}
	// Output:
	// WIF001 error
	//   fix: set Provider.AttributeCondition, for example wif.GitHubCondition(repo), which pins the numeric repository and owner IDs
	// WIF002 error
	//   fix: bind principalSet://…/attribute.repository_id/ID (wif.RepositoryPrincipal) or a stage attribute instead
	// WIF004 warning
	//   fix: map google.subject from numeric claims, as wif.GitHubAttributeMapping does ('repo:' + assertion.repository_id + ':run:' + …)
	// WIF005 warning
	//   fix: grant roles/run.admin on the run.service instead of the project
	// WIF006 warning
	//   fix: grant roles/run.developer, which deploys and routes traffic without changing who may invoke or administer the service
}

// Simulate shows what a token gets before anything is created.
func ExampleSimulate() {
	repo := wif.GitHubRepo{Owner: "octo-org", Name: "app", OwnerID: "1000001", ID: "5000005"}
	s, err := provision.GitHubSetup(provision.GitHubConfig{
		Project: "my-proj", ProjectNumber: "123456789012", Repo: repo, Region: "europe-west1",
		Repository: "images", DevService: "app-dev", ProdService: "app",
		RuntimeServiceAccount: "app-runtime@my-proj.iam.gserviceaccount.com",
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, ref := range []string{"refs/tags/v1.2.3", "refs/heads/feature"} {
		res, err := provision.Simulate(s, wif.GitHubClaims(repo, "push", ref))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ref, "accepted:", res.Accepted, "stage:", res.Mapping.Attributes["attribute.stage"])
		for _, r := range res.Roles() {
			fmt.Println(" ", r)
		}
	}
	fork, _ := provision.Simulate(s, wif.GitHubClaims(repo, "pull_request", "refs/pull/7/merge"))
	fmt.Println("pull request accepted:", fork.Accepted, "-", fork.Reason)
	// Output:
	// refs/tags/v1.2.3 accepted: true stage: release
	//   roles/artifactregistry.reader on artifactregistry.repository projects/my-proj/locations/europe-west1/repositories/images
	//   roles/run.developer on run.service projects/my-proj/locations/europe-west1/services/app
	//   roles/iam.serviceAccountUser on iam.serviceAccount projects/my-proj/serviceAccounts/app-runtime@my-proj.iam.gserviceaccount.com
	// refs/heads/feature accepted: false stage: none
	// pull request accepted: false - attribute condition rejected the token
}

// Plan against the emulators: on an empty project every resource is to be
// created; after Apply there is nothing left to do.
func ExampleManager_Plan() {
	ctx := context.Background()
	const sa = "app-runtime@my-proj.iam.gserviceaccount.com"
	iamSrv, err := iamfake.NewServer(iamfake.WithProject("my-proj", "123456789012"), iamfake.WithServiceAccount("my-proj", sa))
	if err != nil {
		log.Fatal(err)
	}
	defer iamSrv.Close()
	rmSrv, err := resourcemanagerfake.NewServer(resourcemanagerfake.WithProject("my-proj", "123456789012"))
	if err != nil {
		log.Fatal(err)
	}
	defer rmSrv.Close()
	svc, err := iam.NewService(ctx, iamSrv.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	projects, err := resourcemanager.NewProjectsClient(ctx, rmSrv.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer projects.Close()

	pool := wif.Pool{Project: "my-proj", ProjectNumber: "123456789012", ID: "github", DisplayName: "GitHub Actions"}
	repo := wif.GitHubRepo{Owner: "octo-org", Name: "app", OwnerID: "1000001", ID: "5000005"}
	ci := wif.RepositoryPrincipal(pool, repo).String()
	s := provision.Setup{
		Project: "my-proj", ProjectNumber: "123456789012", Pool: pool,
		Provider: wif.GitHubProvider(pool, "github-actions", repo),
		Bindings: []provision.Binding{
			{Resource: provision.ServiceAccountResource("my-proj", sa), Role: "roles/iam.serviceAccountUser", Member: ci},
			{Resource: provision.ProjectResource("my-proj"), Role: "roles/monitoring.viewer", Member: ci},
		},
	}
	m := provision.NewManager(provision.WithIAMService(svc), provision.WithProjectsClient(projects))
	plan, err := m.Plan(ctx, s)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(plan)
	if err := m.Apply(ctx, plan); err != nil {
		log.Fatal(err)
	}
	plan, err = m.Plan(ctx, s)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(plan)
	// Output:
	// + pool projects/123456789012/locations/global/workloadIdentityPools/github
	// + provider projects/123456789012/locations/global/workloadIdentityPools/github/providers/github-actions
	// + binding roles/iam.serviceAccountUser member principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/attribute.repository_id/5000005 on iam.serviceAccount projects/my-proj/serviceAccounts/app-runtime@my-proj.iam.gserviceaccount.com
	// + binding roles/monitoring.viewer member principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/attribute.repository_id/5000005 on project projects/my-proj
	// no changes
}
