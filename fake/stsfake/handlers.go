package stsfake

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/twostage/twostage/internal/emulator"
)

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.issuer,
		"jwks_uri":                              "http://" + r.Host + "/.well-known/jwks",
		"subject_types_supported":               []string{"public", "pairwise"},
		"response_types_supported":              []string{"id_token"},
		"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "repository", "repository_id", "repository_owner", "repository_owner_id", "run_id", "run_number", "run_attempt", "actor", "actor_id", "workflow", "workflow_ref", "event_name", "ref_type", "environment", "job_workflow_ref"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid"},
	})
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	pub := s.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": s.kid,
		"n": b64(pub.N.Bytes()),
		"e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// handleActions emulates $ACTIONS_ID_TOKEN_REQUEST_URL. GitHub answers
// {"count": N, "value": JWT}; the 401 body here is unverified.
func (s *Server) handleActions(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+s.requestToken {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Bad credentials"})
		return
	}
	s.mu.Lock()
	claims := maps.Clone(s.actionsClaims)
	s.mu.Unlock()
	if claims == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "stsfake: no Actions claims set (call SetActionsClaims)"})
		return
	}
	aud := r.URL.Query().Get("audience")
	if aud == "" {
		// GitHub's default audience is the owner's URL (unverified).
		aud = "https://github.com/" + claimString(claims, "repository_owner")
	}
	claims["aud"] = aud
	jwt := s.IssueToken(claims, ActionsTokenLifetime)
	s.logger.Debug("stsfake: issued an Actions OIDC token", "audience", aud, "repository", claimString(claims, "repository"))
	writeJSON(w, http.StatusOK, map[string]any{"count": len(jwt), "value": jwt})
}

// stsError writes an STS error answer.
func stsError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// handleSTS emulates POST https://sts.googleapis.com/v1/token for the
// token-exchange grant (STS v1 token reference: grantType, audience, scope,
// requestedTokenType, subjectToken, subjectTokenType), with a form body
// (RFC 8693, what OAuth clients send) or a JSON body (the shape of the STS
// REST reference's request body).
func (s *Server) handleSTS(w http.ResponseWriter, r *http.Request) {
	f, err := stsParams(r)
	if emulator.TooLarge(err) {
		emulator.WriteTooLarge(w)
		return
	}
	if err != nil {
		stsError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if g := f.Get("grant_type"); g != GrantTypeTokenExchange {
		stsError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("Unsupported grant_type %q; stsfake emulates %q only.", g, GrantTypeTokenExchange))
		return
	}
	if t := f.Get("requested_token_type"); t != TokenTypeAccessToken {
		stsError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("Invalid requested_token_type %q; want %q.", t, TokenTypeAccessToken))
		return
	}
	if t := f.Get("subject_token_type"); t != TokenTypeJWT && t != TokenTypeIDToken {
		stsError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("Invalid subject_token_type %q; an OIDC provider takes %q or %q.", t, TokenTypeJWT, TokenTypeIDToken))
		return
	}
	scopes := strings.Fields(f.Get("scope"))
	if len(scopes) == 0 {
		stsError(w, http.StatusBadRequest, "invalid_scope", "A scope is required.")
		return
	}
	aud := f.Get("audience")
	name, ok := strings.CutPrefix(aud, "//iam.googleapis.com/")
	if _, valid := parseProviderName(name); !ok || !valid {
		// Text quoted in google-github-actions/auth issue #60.
		stsError(w, http.StatusBadRequest, "invalid_request", `Invalid value for "audience". This value should be the full resource name of the Identity Provider. See https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token for the list of possible formats.`)
		return
	}
	p, ok := s.provider(name)
	if !ok || p.Disabled {
		// Text quoted in google-github-actions/auth issues #161 and #334.
		stsError(w, http.StatusBadRequest, "invalid_target", `The target service indicated by the "audience" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.`)
		return
	}
	// The texts of the invalid_grant answers below are unverified
	// approximations unless a comment says where they are quoted from.
	claims, err := s.verify(f.Get("subject_token"))
	if err != nil {
		stsError(w, http.StatusBadRequest, "invalid_grant", fmt.Sprintf("The subject token could not be verified: %v.", err))
		return
	}
	now := s.clock.Now()
	if exp, ok := claims["exp"].(float64); !ok || !now.Before(time.Unix(int64(exp), 0)) {
		stsError(w, http.StatusBadRequest, "invalid_grant", "ID Token has expired or has no exp claim.")
		return
	}
	if nbf, ok := claims["nbf"].(float64); ok && now.Add(time.Minute).Before(time.Unix(int64(nbf), 0)) {
		stsError(w, http.StatusBadRequest, "invalid_grant", "ID Token is not valid yet: nbf is in the future.")
		return
	}
	if iss := claimString(claims, "iss"); iss != p.issuer() || iss != s.issuer {
		stsError(w, http.StatusBadRequest, "invalid_grant", fmt.Sprintf("The issuer in ID Token %s does not match the expected ISS %s.", iss, p.issuer()))
		return
	}
	allowed := p.audiences()
	if !slices.ContainsFunc(tokenAudiences(claims), func(a string) bool { return slices.Contains(allowed, a) }) {
		// Text unverified; google-github-actions/auth issue #29 quotes an
		// older "The audience in JWT does not match the expected values."
		stsError(w, http.StatusBadRequest, "invalid_grant", fmt.Sprintf("The audience in ID Token [%s] does not match the expected audience %s.", strings.Join(tokenAudiences(claims), ", "), allowed[0]))
		return
	}
	m, err := s.judge.apply(p.AttributeMapping, p.AttributeCondition, claims)
	if err != nil {
		stsError(w, http.StatusBadRequest, "invalid_grant", fmt.Sprintf("The provider's attribute mapping or condition is invalid: %v", err))
		return
	}
	if !m.accepted {
		switch m.reason {
		case reasonCondition:
			stsError(w, http.StatusBadRequest, "unauthorized_client", "The given credential is rejected by the attribute condition.")
		case reasonSubject:
			stsError(w, http.StatusBadRequest, "invalid_grant", "The size of mapped attribute google.subject exceeds the 127 bytes limit. Either modify your attribute mapping or the incoming assertion to produce a mapped attribute that is less than 127 bytes.")
		default:
			stsError(w, http.StatusBadRequest, "invalid_grant", "The attribute mapping could not be applied: "+m.reason+".")
		}
		return
	}
	pool, _ := parseProviderName(p.Name)
	tok := "ya29.stsfake-" + randomHex(24)
	id := Identity{
		Principal:  "principal://iam.googleapis.com/" + pool + "/subject/" + m.attributes["google.subject"],
		Provider:   p.Name,
		Pool:       pool,
		Attributes: m.attributes,
		Groups:     m.groups,
		Scopes:     scopes,
		Expiry:     now.Add(AccessTokenLifetime),
	}
	s.store(tok, id)
	s.logger.Debug("stsfake: exchanged a token", "provider", p.Name, "principal", id.Principal)
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":      tok,
		"issued_token_type": TokenTypeAccessToken,
		"token_type":        "Bearer",
		"expires_in":        int(AccessTokenLifetime / time.Second),
	})
}

func (s *Server) store(tok string, id Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = id
	s.order = append(s.order, tok)
}

// apiError writes a Google API (IAM Credentials) error answer.
func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": msg, "status": code}})
}

// handleCredentials dispatches the IAM Credentials methods of
// POST /v1/projects/-/serviceAccounts/EMAIL:METHOD.
func (s *Server) handleCredentials(w http.ResponseWriter, r *http.Request) {
	switch methodOf(r) {
	case MethodGenerateAccessToken:
		s.handleGenerateAccessToken(w, r)
	case MethodGenerateIDToken:
		s.handleGenerateIDToken(w, r)
	case MethodSignBlob:
		s.handleSignBlob(w, r)
	default:
		apiError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("stsfake: %s is not emulated; served: projects/-/serviceAccounts/EMAIL:generateAccessToken, :generateIdToken and :signBlob", r.URL.Path))
	}
}

// impersonation checks the bearer token of r and that its identity may act
// as the service account of the request path (AllowImpersonation), and
// decodes the JSON body into req. It answers the error itself and returns
// the email and the caller, or ok false.
func (s *Server) impersonation(w http.ResponseWriter, r *http.Request, permission string, req any) (email string, caller Identity, ok bool) {
	name := r.PathValue("name")
	email = name[:strings.LastIndex(name, ":")]
	caller, ok = s.IdentityFromHeader(r.Header.Get("Authorization"))
	if !ok {
		apiError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return "", Identity{}, false
	}
	if err := json.NewDecoder(r.Body).Decode(req); err != nil {
		if emulator.TooLarge(err) {
			emulator.WriteTooLarge(w)
			return "", Identity{}, false
		}
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return "", Identity{}, false
	}
	s.mu.Lock()
	members := slices.Clone(s.impersonations[email])
	s.mu.Unlock()
	if !slices.ContainsFunc(members, caller.Matches) {
		// The form of IAM's denial, as in generateAccessToken's.
		apiError(w, http.StatusForbidden, "PERMISSION_DENIED", fmt.Sprintf("Permission '%s' denied on resource (or it may not exist).", permission))
		return "", Identity{}, false
	}
	return email, caller, true
}

// handleGenerateIDToken emulates IAM Credentials
// projects.serviceAccounts.generateIdToken (request {"audience",
// "includeEmail"}, response {"token"}): an RS256 ID token signed with the
// server's key (published at its JWKS, not Google's), issuer
// https://accounts.google.com, aud the audience, sub and azp a numeric ID
// derived from the email, email and email_verified when asked.
func (s *Server) handleGenerateIDToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Audience     string `json:"audience"`
		IncludeEmail bool   `json:"includeEmail"`
	}
	email, _, ok := s.impersonation(w, r, "iam.serviceAccounts.getOpenIdToken", &req)
	if !ok {
		return
	}
	if req.Audience == "" {
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Audience is required.")
		return
	}
	sum := sha256.Sum256([]byte(email))
	id := new(big.Int).SetBytes(sum[:9]).String() // a stable numeric unique ID
	claims := map[string]any{"iss": "https://accounts.google.com", "aud": req.Audience, "sub": id, "azp": id}
	if req.IncludeEmail {
		claims["email"], claims["email_verified"] = email, true
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": s.IssueToken(claims, time.Hour)})
}

// handleSignBlob emulates IAM Credentials projects.serviceAccounts.signBlob
// (request {"payload": base64}, response {"keyId", "signedBlob"}): an
// RSASSA-PKCS1-v1_5 SHA-256 signature with the server's key, whose ID is
// the kid of its JWKS.
func (s *Server) handleSignBlob(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Payload string `json:"payload"`
	}
	if _, _, ok := s.impersonation(w, r, "iam.serviceAccounts.signBlob", &req); !ok {
		return
	}
	payload, err := base64.StdEncoding.DecodeString(req.Payload)
	if err != nil {
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid value at 'payload' (TYPE_BYTES): not base64.")
		return
	}
	sum := sha256.Sum256(payload)
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		apiError(w, http.StatusInternalServerError, "INTERNAL", "signing failed")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"keyId": s.kid, "signedBlob": base64.StdEncoding.EncodeToString(sig)})
}

// handleGenerateAccessToken emulates IAM Credentials
// projects.serviceAccounts.generateAccessToken (request {"scope": […],
// "lifetime": "3600s"}, response {"accessToken", "expireTime"}).
func (s *Server) handleGenerateAccessToken(w http.ResponseWriter, r *http.Request) {
	email, ok := strings.CutSuffix(r.PathValue("name"), ":generateAccessToken")
	if !ok || !strings.Contains(email, "@") {
		apiError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("stsfake: %s is not projects/-/serviceAccounts/EMAIL:generateAccessToken", r.URL.Path))
		return
	}
	caller, ok := s.IdentityFromHeader(r.Header.Get("Authorization"))
	if !ok {
		apiError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	var req struct {
		Scope    []string `json:"scope"`
		Lifetime string   `json:"lifetime"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		if emulator.TooLarge(err) {
			emulator.WriteTooLarge(w)
			return
		}
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	if len(req.Scope) == 0 {
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Scope is required.")
		return
	}
	lifetime := time.Hour
	if req.Lifetime != "" {
		d, err := time.ParseDuration(req.Lifetime)
		if err != nil || d <= 0 || d > 12*time.Hour {
			apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", fmt.Sprintf("Invalid lifetime %q.", req.Lifetime))
			return
		}
		lifetime = d
	}
	s.mu.Lock()
	members := slices.Clone(s.impersonations[email])
	s.mu.Unlock()
	if !slices.ContainsFunc(members, caller.Matches) {
		// Text as commonly quoted in google-github-actions/auth issues.
		apiError(w, http.StatusForbidden, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).")
		return
	}
	now := s.clock.Now()
	tok := "ya29.stsfake-sa-" + randomHex(24)
	s.store(tok, Identity{
		Principal:      "serviceAccount:" + email,
		Provider:       caller.Provider,
		Pool:           caller.Pool,
		ServiceAccount: email,
		Scopes:         req.Scope,
		Expiry:         now.Add(lifetime),
	})
	writeJSON(w, http.StatusOK, map[string]string{
		"accessToken": tok,
		"expireTime":  now.Add(lifetime).UTC().Format(time.RFC3339),
	})
}

func tokenAudiences(c map[string]any) []string {
	switch v := c["aud"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func keyID(pub *rsa.PublicKey) string {
	sum := sha256.Sum256(pub.N.Bytes())
	return hex.EncodeToString(sum[:8])
}

// stsParams returns the parameters of a token request under their form
// names (grant_type, ...): the form of a form body, or the fields of a JSON
// body (grantType or grant_type, ...; string values only).
func stsParams(r *http.Request) (url.Values, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		if err := r.ParseForm(); err != nil {
			if emulator.TooLarge(err) {
				return nil, err
			}
			return nil, errors.New("The request body could not be parsed as a form.")
		}
		return r.PostForm, nil
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		if emulator.TooLarge(err) {
			return nil, err
		}
		return nil, errors.New("The request body could not be parsed as JSON.")
	}
	f := url.Values{}
	for k, v := range body {
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("Invalid value for %q: want a string.", k)
		}
		f.Set(snakeCase(k), str)
	}
	return f, nil
}

// snakeCase turns "grantType" into "grant_type".
func snakeCase(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'A' && c <= 'Z' {
			b.WriteByte('_')
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}
