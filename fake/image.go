package fake

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// NewImage returns a small image with no layers whose digest depends only
// on seed: the same seed gives the same digest on every run, different
// seeds give different digests. Use it where a test or example prints
// digests; go-containerregistry's random.Image gives a new digest each run.
func NewImage(seed string) v1.Image {
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: "amd64",
		OS:           "linux",
		Config:       v1.Config{Labels: map[string]string{"dev.twostage.fake.seed": seed}},
	})
	if err != nil {
		// mutate.ConfigFile only fails if empty.Image cannot report its
		// manifest, which it always can.
		panic(fmt.Sprintf("fake: NewImage(%q): %v", seed, err))
	}
	return img
}
