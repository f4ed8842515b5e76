package stsfake

import (
	"strings"
	"testing"
	"time"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/wif"
)

// FuzzVerify feeds arbitrary subject tokens to the signature check: it
// must never panic, and must accept only tokens the server signed.
func FuzzVerify(f *testing.F) {
	srv, err := NewServer(WithClock(fake.NewClock(time.Time{})))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Close() })
	good := srv.IssueToken(wif.Claims{"sub": "s"}, time.Minute)
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJzIn0.")
	f.Add("..")
	f.Add("a.b.c.d")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := srv.verify(tok)
		if err != nil {
			return
		}
		if tok != good && !strings.HasPrefix(tok, strings.Join(strings.Split(good, ".")[:2], ".")) {
			t.Fatalf("verify accepted a token the server did not sign: %q", tok)
		}
		if c == nil {
			t.Fatalf("verify(%q) = nil claims without an error", tok)
		}
	})
}
