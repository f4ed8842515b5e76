package stsfake_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/stsfake"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
)

// verdicts is one table of (claims, mapping, condition) → accepted, held
// against both judges: the emulator's own CEL environment (through a real
// exchange) and wif/provision.Evaluate. The two are written independently,
// so a bug in either shows as a disagreement with the table.
var verdicts = []struct {
	name      string
	claims    map[string]any
	mapping   map[string]string
	condition string
	accepted  bool
}{
	{"plain subject", map[string]any{"sub": "s1"}, map[string]string{"google.subject": "assertion.sub"}, "", true},
	{"empty subject", map[string]any{"sub": ""}, map[string]string{"google.subject": "assertion.sub"}, "", false},
	{"subject of 127 bytes", map[string]any{"sub": fmt.Sprintf("%0127d", 0)}, map[string]string{"google.subject": "assertion.sub"}, "", true},
	{"subject of 128 bytes", map[string]any{"sub": fmt.Sprintf("%0128d", 0)}, map[string]string{"google.subject": "assertion.sub"}, "", false},
	{"missing claim in mapping", map[string]any{"sub": "s"}, map[string]string{"google.subject": "assertion.sub", "attribute.x": "assertion.nope"}, "", false},
	{"non-string mapping", map[string]any{"sub": "s", "n": 7.0}, map[string]string{"google.subject": "assertion.sub", "attribute.n": "assertion.n"}, "", false},
	{"condition on assertion true", map[string]any{"sub": "s", "repository_id": "74"}, map[string]string{"google.subject": "assertion.sub"}, "assertion.repository_id == '74'", true},
	{"condition on assertion false", map[string]any{"sub": "s", "repository_id": "75"}, map[string]string{"google.subject": "assertion.sub"}, "assertion.repository_id == '74'", false},
	{"condition on attribute", map[string]any{"sub": "s", "ref": "refs/heads/main"}, map[string]string{"google.subject": "assertion.sub", "attribute.ref": "assertion.ref"}, "attribute.ref == 'refs/heads/main'", true},
	{"condition on google.subject", map[string]any{"sub": "repo:x"}, map[string]string{"google.subject": "assertion.sub"}, "google.subject.startsWith('repo:')", true},
	{"condition on a missing claim", map[string]any{"sub": "s"}, map[string]string{"google.subject": "assertion.sub"}, "assertion.environment == 'prod'", false},
	{"condition with has()", map[string]any{"sub": "s"}, map[string]string{"google.subject": "assertion.sub"}, "!has(assertion.environment)", true},
	{"condition matches", map[string]any{"sub": "s", "ref": "refs/tags/v1.2.3"}, map[string]string{"google.subject": "assertion.sub"}, `assertion.ref.matches('^refs/tags/v[0-9]+\\.[0-9]+\\.[0-9]+$')`, true},
	{"condition matches refuses vEVIL", map[string]any{"sub": "s", "ref": "refs/tags/vEVIL"}, map[string]string{"google.subject": "assertion.sub"}, `assertion.ref.matches('^refs/tags/v[0-9]+\\.[0-9]+\\.[0-9]+$')`, false},
	{"extract", map[string]any{"sub": "repo:octo/app:ref:refs/heads/main"}, map[string]string{"google.subject": "assertion.sub", "attribute.repo": "assertion.sub.extract('repo:{repo}:')"}, "attribute.repo == 'octo/app'", true},
	{"groups list", map[string]any{"sub": "s", "teams": []any{"a", "b"}}, map[string]string{"google.subject": "assertion.sub", "google.groups": "assertion.teams"}, "'b' in google.groups", true},
	{"event in list", map[string]any{"sub": "s", "event_name": "workflow_run"}, map[string]string{"google.subject": "assertion.sub"}, "assertion.event_name in ['push', 'workflow_dispatch']", false},
}

func TestJudgesAgree(t *testing.T) {
	t.Parallel()
	srv, err := stsfake.NewServer(stsfake.WithClock(fake.NewClock(time.Time{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	for i, tt := range verdicts {
		p := wif.Provider{Pool: pool, ID: fmt.Sprintf("judge-%d", i), AttributeMapping: tt.mapping, AttributeCondition: tt.condition}
		if err := srv.AddProvider(stsProvider(p)); err != nil {
			t.Fatal(err)
		}
		m, err := provision.Evaluate(p, wif.Claims(tt.claims))
		if err != nil {
			t.Errorf("%s: provision.Evaluate = %v", tt.name, err)
		} else if m.Accepted != tt.accepted {
			t.Errorf("%s: provision.Evaluate accepted %v (%s), want %v", tt.name, m.Accepted, m.Reason, tt.accepted)
		}
		c := map[string]any{"aud": p.DefaultTokenAudience()}
		for k, v := range tt.claims {
			c[k] = v
		}
		form := url.Values{
			"grant_type": {stsfake.GrantTypeTokenExchange}, "requested_token_type": {stsfake.TokenTypeAccessToken},
			"subject_token_type": {stsfake.TokenTypeJWT}, "scope": {"https://www.googleapis.com/auth/cloud-platform"},
			"audience": {p.Audience()}, "subject_token": {srv.IssueToken(c, time.Minute)},
		}
		resp, err := srv.Client().PostForm(srv.TokenURL(), form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.StatusCode == http.StatusOK; got != tt.accepted {
			t.Errorf("%s: stsfake accepted %v (HTTP %d), want %v", tt.name, got, resp.StatusCode, tt.accepted)
		}
	}
}
