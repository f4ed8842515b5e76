package traffictest

import (
	"errors"
	"testing"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// testTargetsGettable checks, for routers that are also a [stage.Getter],
// that every revision a split names can be read, is ready, and carries the
// URL of each tag the split points at it; and that a missing one is
// [twostage.ErrNotFound].
func testTargetsGettable(t *testing.T, r traffic.Router, seed Seeder) {
	g, ok := r.(stage.Getter)
	if !ok {
		t.Skip("the router does not implement stage.Getter")
	}
	revs := seedAll(t, seed, "a1", "b2")
	sp := mustSet(t, r, traffic.Split{
		Targets: []traffic.Target{{Revision: revs[0], Percent: 70, Tag: "stable"}, {Revision: revs[1], Percent: 30, Tag: "canary"}},
		Version: mustSplit(t, r).Version,
	})
	for _, tg := range sp.Targets {
		got, err := g.Revision(t.Context(), tg.Revision)
		if err != nil {
			t.Fatalf("Revision(%q) error: %v", tg.Revision, err)
		}
		if got.Name != tg.Revision || !got.Ready {
			t.Errorf("Revision(%q) = %+v, want that revision, ready", tg.Revision, got)
		}
		if got.TagURLs[tg.Tag] == "" {
			t.Errorf("Revision(%q).TagURLs = %v, want a URL for tag %q", tg.Revision, got.TagURLs, tg.Tag)
		}
	}
	if _, err := g.Revision(t.Context(), "no-such-revision"); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("Revision(no-such-revision): error %v, want one wrapping twostage.ErrNotFound", err)
	}
}
