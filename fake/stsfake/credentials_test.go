package stsfake_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twostage/twostage/fake/stsfake"
	"github.com/twostage/twostage/wif"
)

// TestGenerateIDTokenAndSignBlob: the IAM Credentials methods the routing
// table promised (issue 16) are served, to a caller allowed to impersonate
// the service account only, and what they sign verifies with the issuer's
// published JWKS.
func TestGenerateIDTokenAndSignBlob(t *testing.T) {
	t.Parallel()
	srv, _, p := newServer(t)
	c := claims()
	c["aud"] = p.DefaultTokenAudience()
	code, v := postForm(t, srv, url.Values{
		"grant_type": {stsfake.GrantTypeTokenExchange}, "audience": {p.Audience()}, "scope": {wif.CloudPlatformScope},
		"requested_token_type": {stsfake.TokenTypeAccessToken}, "subject_token_type": {stsfake.TokenTypeJWT},
		"subject_token": {srv.IssueToken(c, time.Minute)},
	})
	if code != http.StatusOK {
		t.Fatalf("exchange: HTTP %d %v", code, v)
	}
	tok := v["access_token"].(string)
	sa := "prober@p.iam.gserviceaccount.com"
	call := func(method, body string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, srv.IAMCredentialsURL()+"/v1/projects/-/serviceAccounts/"+sa+":"+method, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, out := call("generateIdToken", `{"audience": "https://svc.run.app"}`); code != http.StatusForbidden {
		t.Errorf("generateIdToken before AllowImpersonation: HTTP %d %v, want 403", code, out)
	}
	srv.AllowImpersonation(sa, wif.AttributePrincipal(pool, "repository_owner_id", "65").String())
	code, out := call("generateIdToken", `{"audience": "https://svc.run.app", "includeEmail": true}`)
	if code != http.StatusOK {
		t.Fatalf("generateIdToken: HTTP %d %v", code, out)
	}
	idc, err := wif.DecodeClaims(out["token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if idc["aud"] != "https://svc.run.app" || idc["email"] != sa || idc["iss"] != "https://accounts.google.com" {
		t.Errorf("ID token claims = %v, want aud, email and Google's issuer", idc)
	}
	code, out = call("signBlob", `{"payload": "`+base64.StdEncoding.EncodeToString([]byte("hello"))+`"}`)
	if code != http.StatusOK {
		t.Fatalf("signBlob: HTTP %d %v", code, out)
	}
	_, jwks := getJSON(t, srv.Client(), srv.URL()+"/.well-known/jwks", nil)
	key := jwks["keys"].([]any)[0].(map[string]any)
	if out["keyId"] != key["kid"] {
		t.Errorf("keyId = %v, want the JWKS kid %v", out["keyId"], key["kid"])
	}
	n, _ := base64.RawURLEncoding.DecodeString(key["n"].(string))
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
	sig, _ := base64.StdEncoding.DecodeString(out["signedBlob"].(string))
	sum := sha256.Sum256([]byte("hello"))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("signedBlob does not verify with the JWKS key: %v", err)
	}
	if code, _ := call("signJwt", `{}`); code != http.StatusNotFound {
		t.Errorf("signJwt: HTTP %d, want 404 naming what is served", code)
	}
}
