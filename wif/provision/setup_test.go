package provision_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
)

// testRepo is the repository of the examples: octo-org/app.
func testRepo() wif.GitHubRepo {
	return wif.GitHubRepo{Owner: "octo-org", Name: "app", OwnerID: "1000001", ID: "5000005"}
}

func testConfig() provision.GitHubConfig {
	return provision.GitHubConfig{
		Project:               "my-proj",
		ProjectNumber:         "123456789012",
		Repo:                  testRepo(),
		Region:                "europe-west1",
		Repository:            "images",
		DevService:            "app-dev",
		ProdService:           "app",
		RuntimeServiceAccount: "app-runtime@my-proj.iam.gserviceaccount.com",
	}
}

func testSetup() provision.Setup { return mustSetup(testConfig()) }

// mustSetup is GitHubSetup for configurations known to be valid.
func mustSetup(c provision.GitHubConfig) provision.Setup {
	s, err := provision.GitHubSetup(c)
	if err != nil {
		panic(err)
	}
	return s
}

func TestGitHubSetupDefaults(t *testing.T) {
	t.Parallel()
	s := testSetup()
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	var got []string
	for _, b := range s.Bindings {
		if b.Resource.Kind == provision.ResourceProject {
			t.Errorf("binding on the project: %s", b)
		}
		if b.Member == "allUsers" {
			t.Errorf("public binding without PublicInvoker: %s", b)
		}
		got = append(got, b.String())
	}
	want := []string{
		"roles/artifactregistry.writer member principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/attribute.stage/dev on artifactregistry.repository projects/my-proj/locations/europe-west1/repositories/images",
		"roles/artifactregistry.reader member principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/attribute.stage/release on artifactregistry.repository projects/my-proj/locations/europe-west1/repositories/images",
		"roles/run.developer member principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/attribute.stage/dev on run.service projects/my-proj/locations/europe-west1/services/app-dev",
		"roles/run.developer member principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/attribute.stage/release on run.service projects/my-proj/locations/europe-west1/services/app",
		"roles/run.developer member principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/attribute.stage/promote on run.service projects/my-proj/locations/europe-west1/services/app",
		"roles/iam.serviceAccountUser member principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/attribute.stage/dev on iam.serviceAccount projects/my-proj/serviceAccounts/app-runtime@my-proj.iam.gserviceaccount.com",
		"roles/iam.serviceAccountUser member principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/attribute.stage/release on iam.serviceAccount projects/my-proj/serviceAccounts/app-runtime@my-proj.iam.gserviceaccount.com",
		"roles/iam.serviceAccountUser member principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/attribute.stage/promote on iam.serviceAccount projects/my-proj/serviceAccounts/app-runtime@my-proj.iam.gserviceaccount.com",
	}
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Errorf("bindings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	c := testConfig()
	c.PublicInvoker = true
	pub := mustSetup(c)
	n := 0
	for _, b := range pub.Bindings {
		if b.Member == "allUsers" {
			n++
			if b.Role != "roles/run.invoker" || b.Resource.Kind != provision.ResourceRunService {
				t.Errorf("public binding %s, want run.invoker on a service", b)
			}
		}
	}
	if n != 2 {
		t.Errorf("PublicInvoker gave %d allUsers bindings, want 2", n)
	}
}

func TestSetupValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(s *provision.Setup)
		want string // substring of the error; "" for valid
	}{
		{"defaults", func(*provision.Setup) {}, ""},
		{"no project", func(s *provision.Setup) { s.Project = "" }, "Project is empty"},
		{"project number not numeric", func(s *provision.Setup) { s.ProjectNumber = "my-proj" }, "ProjectNumber"},
		{"bad pool id", func(s *provision.Setup) { s.Pool.ID = "gcp-x"; s.Provider.Pool.ID = "gcp-x" }, "gcp-"},
		{"provider of another pool", func(s *provision.Setup) { s.Provider.Pool.ID = "other" }, "Provider belongs to pool"},
		{"bad mapping", func(s *provision.Setup) { s.Provider.AttributeMapping["attribute.x"] = "assertion." }, "attribute.x"},
		{"bad resource name", func(s *provision.Setup) { s.Bindings[0].Resource.Name = "projects/p/repositories/r" }, "want \"projects/PROJECT/locations/LOCATION/repositories/REPOSITORY\""},
		{"bad role", func(s *provision.Setup) { s.Bindings[0].Role = "artifactregistry.writer" }, "role \"artifactregistry.writer\""},
		{"member of another pool", func(s *provision.Setup) {
			s.Bindings[0].Member = "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/other/attribute.stage/dev"
		}, "not the setup's pool"},
		{"member without type", func(s *provision.Setup) { s.Bindings[0].Member = "dev@example.com" }, "member \"dev@example.com\""},
		{"allUsers on project", func(s *provision.Setup) {
			s.Bindings = append(s.Bindings, provision.Binding{Resource: provision.ProjectResource("my-proj"), Role: "roles/viewer", Member: "allUsers"})
		}, "cannot be granted on a project"},
		{"duplicate", func(s *provision.Setup) { s.Bindings = append(s.Bindings, s.Bindings[0]) }, "declared twice"},
		{"empty condition", func(s *provision.Setup) { s.Bindings[0].Condition = &provision.Expr{Title: "t"} }, "condition has no expression"},
		{"member on an unmapped attribute", func(s *provision.Setup) {
			s.Bindings[0].Member = "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/attribute.branch/main"
		}, "does not map"},
		{"bad stage", func(s *provision.Setup) { s.Bindings[0].Resource.Stage = "staging" }, "stage \"staging\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := testSetup()
			tt.edit(&s)
			err := s.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, twostage.ErrInvalid) {
				t.Errorf("Validate() = %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}
