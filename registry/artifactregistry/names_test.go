package artifactregistry

import (
	"errors"
	"strings"
	"testing"

	"github.com/twostage/twostage"
)

// FuzzParseRepository checks that repository names either fail with
// ErrInvalid or split into non-empty parts that rebuild the input.
func FuzzParseRepository(f *testing.F) {
	f.Add("projects/my-project/locations/europe-west1/repositories/apps")
	f.Add("projects//locations/l/repositories/r")
	f.Add("projects/p/locations/l/repositories/r/packages/x")
	f.Fuzz(func(t *testing.T, name string) {
		p, l, r, err := parseRepository(name)
		if err != nil {
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Fatalf("parseRepository(%q) error %v does not wrap ErrInvalid", name, err)
			}
			return
		}
		if p == "" || l == "" || r == "" || strings.Contains(p+l+r, "/") {
			t.Fatalf("parseRepository(%q) = %q, %q, %q", name, p, l, r)
		}
		if got := "projects/" + p + "/locations/" + l + "/repositories/" + r; got != name {
			t.Fatalf("parseRepository(%q) rebuilds %q", name, got)
		}
	})
}

func TestIsHex(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]bool{"4f": true, "ABC0": true, "": false, "v": false, "sha-": false, "0x": false} {
		if got := isHex(p); got != want {
			t.Errorf("isHex(%q) = %v, want %v", p, got, want)
		}
	}
}
