package wif_test

import (
	"context"
	"fmt"
	"log"

	"github.com/twostage/twostage/fake/stsfake"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
)

func ExampleParsePrincipal() {
	p, err := wif.ParsePrincipal("principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/attribute.repository_id/74")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Kind, p.Pool.ProjectNumber, p.Pool.ID, p.Attribute, p.Value)

	all, err := wif.ParsePrincipal("principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/*")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("wildcard:", all.Wildcard())

	_, err = wif.ParsePrincipal("principal://iam.googleapis.com/projects/my-project/locations/global/workloadIdentityPools/github/subject/x")
	fmt.Println(err != nil)
	// Output:
	// attribute 123456789012 github repository_id 74
	// wildcard: true
	// true
}

func ExampleGitHubProvider() {
	pool := wif.Pool{ProjectNumber: "123456789012", ID: "github"}
	repo := wif.GitHubRepo{Owner: "octo-org", Name: "octo-repo", OwnerID: "65", ID: "74"}
	p := wif.GitHubProvider(pool, "github-actions", repo)
	fmt.Println(p.AttributeCondition)

	token := wif.Claims{
		"sub": "repo:octo-org/octo-repo:ref:refs/tags/v1.4.2", "repository": "octo-org/octo-repo",
		"repository_id": "74", "repository_owner_id": "65", "ref": "refs/tags/v1.4.2", "ref_type": "tag",
		"workflow_ref": "octo-org/octo-repo/.github/workflows/release.yml@refs/tags/v1.4.2",
		"actor_id":     "12", "event_name": "push", "run_id": "1234567890", "run_attempt": "1",
	}
	m, err := provision.Evaluate(p, token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Accepted, m.Subject(), m.Attributes["attribute.ref"])

	// The same job in another repository of the same owner.
	token["repository_id"] = "75"
	m, err = provision.Evaluate(p, token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Accepted, m.Reason)
	// Output:
	// assertion.repository_owner_id == "65" && assertion.repository_id == "74"
	// true repo:74:run:1234567890:1 refs/tags/v1.4.2
	// false attribute condition rejected the token
}

func ExampleTokenSource() {
	// The emulator stands in for GitHub and STS. In a workflow, use
	// wif.FromGitHubActions("") and no token URL instead.
	srv, err := stsfake.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	pool := wif.Pool{ProjectNumber: "123456789012", ID: "github"}
	repo := wif.GitHubRepo{Owner: "octo-org", Name: "octo-repo", OwnerID: "65", ID: "74"}
	provider := wif.GitHubProvider(pool, "github-actions", repo)
	if err := srv.AddProvider(stsProvider(provider)); err != nil {
		log.Fatal(err)
	}
	srv.SetActionsClaims(wif.Claims{
		"sub": "repo:octo-org/octo-repo:ref:refs/heads/main", "repository": "octo-org/octo-repo",
		"repository_id": "74", "repository_owner_id": "65", "ref": "refs/heads/main", "ref_type": "branch",
		"workflow_ref": "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main",
		"actor_id":     "12", "event_name": "push", "run_id": "1234567890", "run_attempt": "1",
	})

	gh := &wif.GitHubOIDC{RequestURL: srv.ActionsRequestURL(), RequestToken: srv.RequestToken()}
	ts, err := wif.TokenSource(context.Background(), provider, gh, wif.WithTokenURL(srv.TokenURL()))
	if err != nil {
		log.Fatal(err)
	}
	tok, err := ts.Token() // pass ts to option.WithTokenSource
	if err != nil {
		log.Fatal(err)
	}
	principal, _ := srv.Principal(tok.AccessToken)
	fmt.Println(principal)
	// Output:
	// principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/subject/repo:74:run:1234567890:1
}
