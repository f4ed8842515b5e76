package wif

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestRedactErrKeepsSentinels(t *testing.T) {
	t.Parallel()
	const secret = "request-token-abc123"
	err := fmt.Errorf("calling with %s: %w", secret, fmt.Errorf("inner: %w", context.DeadlineExceeded))
	got := redactErr(err, secret)
	if strings.Contains(got.Error(), secret) {
		t.Errorf("redactErr() = %q, still contains the secret", got)
	}
	if !errors.Is(got, context.DeadlineExceeded) {
		t.Errorf("redactErr() = %v, lost context.DeadlineExceeded", got)
	}
	// Nothing reachable through Unwrap prints the secret.
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if strings.Contains(e.Error(), secret) {
			t.Errorf("an unwrapped error prints the secret: %q", e)
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(got)
	clean := errors.New("no secret here")
	if redactErr(clean, secret) != clean {
		t.Errorf("redactErr changed an error without secrets")
	}
	if redactErr(nil, secret) != nil {
		t.Errorf("redactErr(nil) != nil")
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	tests := []struct{ in, want string }{
		{"token " + jwt + " end", "token [REDACTED] end"},
		{"a JSON key eyJ is fine", "a JSON key eyJ is fine"},
		{"short eyJab.c", "short eyJab.c"},
		{"bearer s3cr3t-value", "bearer [REDACTED]"},
		{jwt + jwt, "[REDACTED]"},
	}
	for _, tt := range tests {
		if got := redact(tt.in, "s3cr3t-value"); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{EnvRequestURL: "https://pipelines.example/x?api-version=2.0", EnvRequestToken: "tok"}
	g, err := fromEnv(func(k string) string { return env[k] }, "aud")
	if err != nil {
		t.Fatal(err)
	}
	if g.RequestURL != env[EnvRequestURL] || g.RequestToken != "tok" || g.Audience != "aud" {
		t.Errorf("fromEnv = %+v", g)
	}
	if _, err := fromEnv(func(string) string { return "" }, ""); !errors.Is(err, ErrNoIDToken) {
		t.Errorf("fromEnv with no env = %v, want ErrNoIDToken", err)
	}
}

func FuzzRedact(f *testing.F) {
	f.Add("x eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln y", "secret")
	f.Add("eyJeyJeyJ...", "")
	f.Add("secretsecret", "secret")
	f.Fuzz(func(t *testing.T, s, secret string) {
		got := redact(s, secret)
		if secret != "" && !strings.Contains(redacted, secret) && strings.Contains(got, secret) {
			t.Fatalf("redact(%q, %q) = %q, still holds the secret", s, secret, got)
		}
		jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
		if strings.Contains(redact(s+" "+jwt+" ", secret), jwt) {
			t.Fatalf("redact left a JWT in %q", s)
		}
	})
}
