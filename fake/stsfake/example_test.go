package stsfake_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/twostage/twostage/fake/stsfake"
)

// The emulator signs GitHub-like ID tokens and exchanges them like STS,
// applying the provider's attribute condition: a token from another
// repository of the same owner is refused.
func Example() {
	srv, err := stsfake.NewServer()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	provider := stsfake.Provider{
		Name:               "projects/123/locations/global/workloadIdentityPools/github/providers/actions",
		AttributeMapping:   map[string]string{"google.subject": "assertion.sub", "attribute.repository_id": "assertion.repository_id"},
		AttributeCondition: "assertion.repository_owner_id == '7' && assertion.repository_id == '42'",
	}
	if err := srv.AddProvider(provider); err != nil {
		panic(err)
	}
	audience := "//iam.googleapis.com/" + provider.Name
	for _, repoID := range []string{"42", "99"} {
		jwt := srv.IssueToken(map[string]any{
			"repository_id": repoID, "repository_owner_id": "7", "repository": "octo/x",
			"ref": "refs/heads/main", "ref_type": "branch", "event_name": "push", "actor_id": "1",
			"sub": "repo:octo/x:ref:refs/heads/main", "workflow_ref": "octo/x/.github/workflows/d.yml@refs/heads/main",
			"run_id": "1", "run_attempt": "1", "aud": audience,
		}, 5*time.Minute)
		resp, err := srv.Client().PostForm(srv.TokenURL(), url.Values{
			"grant_type":           {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"audience":             {audience},
			"scope":                {"https://www.googleapis.com/auth/cloud-platform"},
			"requested_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
			"subject_token":        {jwt},
			"subject_token_type":   {"urn:ietf:params:oauth:token-type:jwt"},
		})
		if err != nil {
			panic(err)
		}
		var body struct {
			AccessToken string `json:"access_token"`
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		fmt.Printf("repository %s: HTTP %d, token issued: %v\n", repoID, resp.StatusCode, body.AccessToken != "")
		if body.Error != "" {
			fmt.Println(" ", body.Error+":", body.Description)
		}
	}
	// Output:
	// repository 42: HTTP 200, token issued: true
	// repository 99: HTTP 400, token issued: false
	//   unauthorized_client: The given credential is rejected by the attribute condition.
}
