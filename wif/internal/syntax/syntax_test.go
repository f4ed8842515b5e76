package syntax

import "testing"

func TestQuoteCEL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"74", `"74"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"a\nb", `"a\x0ab"`},
		{"é", `"é"`},
	}
	for _, tt := range tests {
		if got := QuoteCEL(tt.in); got != tt.want {
			t.Errorf("QuoteCEL(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestAttributeName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{"stage": true, "repository_id": true, "a1": true, "": false, "Repo": false, "a-b": false, "a.b": false} {
		if got := AttributeName(name); got != want {
			t.Errorf("AttributeName(%q) = %v, want %v", name, got, want)
		}
	}
}
