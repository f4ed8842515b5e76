package names_test

import (
	"strings"
	"testing"

	"github.com/twostage/twostage/internal/names"
)

func TestDNSLabel(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"a": true, "api-v1-4-2-abcdef1": true, "a1": true, strings.Repeat("a", 63): true,
		"": false, "1a": false, "-a": false, "a-": false, "A": false, "a.b": false, "a_b": false,
		strings.Repeat("a", 64): false, "é": false,
	} {
		if got := names.DNSLabel(s); got != want {
			t.Errorf("DNSLabel(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzDNSLabel(f *testing.F) {
	f.Add("api-1")
	f.Fuzz(func(t *testing.T, s string) {
		if !names.DNSLabel(s) {
			return
		}
		if len(s) > 63 || strings.ToLower(s) != s || strings.ContainsAny(s, "._ ") || s[0] < 'a' || s[len(s)-1] == '-' {
			t.Fatalf("DNSLabel(%q) = true", s)
		}
	})
}
