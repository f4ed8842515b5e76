package traffic

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twostage/twostage/internal/names"
)

// This file holds the pure split algebra: functions that compute a new
// [Split] from an old one without I/O. None of them mutates its input, and no
// result shares a Targets array with an input, so a caller may edit either
// freely.

// latestKey is the [Shares] key of a Latest target when the split does not
// know which revision is the latest ready one.
const latestKey = ""

// implicitLatest is the target an empty split stands for: Cloud Run routes
// 100% to the latest ready revision when a service has no traffic entries
// (runpb Service.traffic: "If traffic is empty or not provided, defaults to
// 100% traffic to the latest Ready Revision").
var implicitLatest = Target{Latest: true, Percent: 100}

// materialize returns a copy of s's targets, with the implicit
// {Latest, 100%} entry spelled out when s has none.
func materialize(s Split) []Target {
	if len(s.Targets) == 0 {
		return []Target{implicitLatest}
	}
	return slices.Clone(s.Targets)
}

// withTargets returns s with its Targets replaced by ts (Version, State and
// LatestRevision are kept).
func withTargets(s Split, ts []Target) Split {
	s.Targets = ts
	return s
}

// Shares returns each revision's share of traffic: the sum of the percents of
// its entries. Every revision named by an entry is present, tag-only ones
// with 0. A Latest target's percent is counted under s.LatestRevision when
// that is set, else under the key "" (the empty string). An empty split gives
// {s.LatestRevision: 100} (or {"": 100}), as Cloud Run routes all traffic to
// the latest ready revision then.
func Shares(s Split) map[string]int {
	ts := s.Targets
	if len(ts) == 0 {
		ts = []Target{implicitLatest}
	}
	out := make(map[string]int, len(ts))
	for _, t := range ts {
		key := t.Revision
		if t.Latest {
			key = s.LatestRevision
		}
		out[key] += t.Percent
	}
	return out
}

// Serving returns the revisions that receive traffic in s and their shares
// (see [Shares]: a Latest target counts under s.LatestRevision), leaving out
// tag-only entries and revisions at 0%. It is who serves users now.
func Serving(s Split) map[string]int {
	out := make(map[string]int)
	for rev, p := range Shares(s) {
		if p > 0 {
			out[rev] = p
		}
	}
	return out
}

// Pin replaces every Latest target by an explicit target for revision latest
// with the same percent and tag, as "gcloud run deploy --no-traffic" does
// before it adds a 0% revision: pinned, the split no longer follows new
// revisions, so deploying one moves no traffic. An untagged pinned entry is
// merged into an existing untagged entry of latest (percents added) so that
// the revision keeps a single untagged entry.
//
// An empty split (100% to the latest revision) becomes
// [{Revision: latest, Percent: 100}]. A split without Latest targets is
// returned unchanged (copied). It is an error, wrapping
// [twostage.ErrInvalid], to pin a split that has a Latest target (or is
// empty) to an empty or malformed latest: a service with no ready revision
// has nothing to pin to.
func Pin(s Split, latest string) (Split, error) {
	ts := materialize(s)
	if !slices.ContainsFunc(ts, func(t Target) bool { return t.Latest }) {
		return s.Clone(), nil
	}
	if latest == "" {
		return Split{}, invalidf("pinning LATEST: no ready revision to pin LATEST to; deploy a revision that becomes ready first, or pass the service's latest ready revision")
	}
	if !names.DNSLabel(latest) {
		return Split{}, invalidf("pinning LATEST: revision %q is not a valid revision name (lower-case letters, digits and '-', starting with a letter, at most 63 characters)", latest)
	}
	out := make([]Target, 0, len(ts))
	untagged := -1 // index in out of latest's untagged entry
	for _, t := range ts {
		if t.Latest {
			t = Target{Revision: latest, Percent: t.Percent, Tag: t.Tag}
		}
		if t.Revision == latest && t.Tag == "" && !t.Latest {
			if untagged >= 0 {
				out[untagged].Percent += t.Percent
				continue
			}
			untagged = len(out)
		}
		out = append(out, t)
	}
	return withTargets(s, out), nil
}

// Route sets the traffic shares: each revision in percents gets exactly that
// share, every other revision 0. The percents must each be in 0..100 and sum
// to 100, and name valid revisions. A Latest target that carries traffic
// must have been pinned with [Pin] first (and an empty split, which means
// 100% to LATEST, too); a tag-only Latest target is kept as it is.
//
// Tags are kept: an entry that carried a tag keeps it, as a tag-only 0% entry
// if its revision no longer gets traffic; untagged 0% entries are dropped. A
// revision with traffic ends up with exactly one entry carrying its percent:
// its first untagged entry, else its first tagged entry (its other tagged
// entries keep 0), else a new untagged entry appended after the existing
// ones (new entries in order of percent, highest first, then name). The
// order of the other entries is kept.
//
// Version, State and LatestRevision are copied from s. The result passes
// Validate(result, ""); an error wraps [twostage.ErrInvalid].
func Route(s Split, percents map[string]int) (Split, error) {
	if err := checkPercents(percents); err != nil {
		return Split{}, err
	}
	for i, t := range materialize(s) {
		if t.Latest && t.Percent > 0 {
			return Split{}, invalidf("routing %s: target %d routes %d%% to LATEST; call Pin(split, latestReadyRevision) first so the shares are explicit", formatPercents(percents), i+1, t.Percent)
		}
	}
	return route(s, percents)
}

// route is Route without the checks; Latest entries that carry traffic lose
// it (and are dropped unless tagged).
func route(s Split, percents map[string]int) (Split, error) {
	ts := s.Targets // an empty split only holds the implicit LATEST entry, which is dropped
	// carrier[r] is the index in ts of the entry that will carry r's percent.
	carrier := make(map[string]int, len(percents))
	for i, t := range ts {
		if t.Latest || percents[t.Revision] == 0 {
			continue
		}
		j, ok := carrier[t.Revision]
		if !ok || (ts[j].Tag != "" && t.Tag == "") {
			carrier[t.Revision] = i
		}
	}
	out := make([]Target, 0, len(ts)+len(percents))
	for i, t := range ts {
		p := 0
		if !t.Latest {
			if j, ok := carrier[t.Revision]; ok && j == i {
				p = percents[t.Revision]
			}
		}
		if p == 0 && t.Tag == "" {
			continue
		}
		out = append(out, Target{Revision: t.Revision, Latest: t.Latest, Percent: p, Tag: t.Tag})
	}
	var fresh []Target
	for r, p := range percents {
		if _, ok := carrier[r]; !ok && p > 0 {
			fresh = append(fresh, Target{Revision: r, Percent: p})
		}
	}
	slices.SortFunc(fresh, func(a, b Target) int {
		return cmp.Or(cmp.Compare(b.Percent, a.Percent), strings.Compare(a.Revision, b.Revision))
	})
	out = append(out, fresh...)
	res := withTargets(s, out)
	if err := Validate(res, ""); err != nil {
		return Split{}, fmt.Errorf("traffic: routing %s gives an invalid split (fix the input split): %w", formatPercents(percents), err)
	}
	return res, nil
}

// checkPercents validates the argument of Route.
func checkPercents(percents map[string]int) error {
	sum := 0
	for _, r := range slices.Sorted(maps.Keys(percents)) {
		p := percents[r]
		if !names.DNSLabel(r) {
			return invalidf("routing %s: revision %q is not a valid revision name (lower-case letters, digits and '-', starting with a letter, at most 63 characters)", formatPercents(percents), r)
		}
		if p < 0 || p > 100 {
			return invalidf("routing %s: percent %d for revision %q is not in 0..100", formatPercents(percents), p, r)
		}
		sum += p
	}
	if sum != 100 {
		return invalidf("routing %s: percents sum to %d, want 100", formatPercents(percents), sum)
	}
	return nil
}

// formatPercents renders a Route argument deterministically, for errors.
func formatPercents(percents map[string]int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, r := range slices.Sorted(maps.Keys(percents)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(r))
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(percents[r]))
	}
	b.WriteByte('}')
	return b.String()
}

// Shift moves n percentage points of traffic from revision from to revision
// to, keeping every other share and all tags (see [Route], which it calls).
// A negative n moves -n points back from to to from; moving within one
// revision (from == to) changes no share. It is an error, wrapping
// [twostage.ErrInvalid], if a name is not a valid revision name, if the
// giving revision has fewer points than it must give, or if a Latest target
// (or an empty split) still carries traffic: [Pin] it first.
func Shift(s Split, from, to string, n int) (Split, error) {
	what := "shifting " + strconv.Itoa(n) + " points from " + strconv.Quote(from) + " to " + strconv.Quote(to)
	for _, r := range []string{from, to} {
		if !names.DNSLabel(r) {
			return Split{}, invalidf("%s: revision %q is not a valid revision name (lower-case letters, digits and '-', starting with a letter, at most 63 characters)", what, r)
		}
	}
	for i, t := range materialize(s) {
		if t.Latest && t.Percent > 0 {
			return Split{}, invalidf("%s: target %d routes %d%% to LATEST; call Pin(split, latestReadyRevision) first so the shares are explicit", what, i+1, t.Percent)
		}
	}
	shares := Shares(s)
	giver, need := from, n
	if n < 0 {
		giver, need = to, -n
	}
	if have := shares[giver]; have < need {
		return Split{}, invalidf("%s: revision %q has only %d%%", what, giver, have)
	}
	percents := make(map[string]int, len(shares)+1)
	for r, p := range shares {
		if p > 0 {
			percents[r] = p
		}
	}
	percents[from] -= n
	percents[to] += n
	return Route(s, percents)
}

// RouteAll sends 100% of traffic to revision, keeping all tags: other
// revisions' tagged entries become tag-only, untagged ones are dropped. It is
// the rollback write. Unlike [Route] it needs no [Pin] first, since no
// traffic is left to a Latest target either way (a tagged Latest entry is
// kept as tag-only). An invalid revision name fails with
// [twostage.ErrInvalid].
func RouteAll(s Split, revision string) (Split, error) {
	if !names.DNSLabel(revision) {
		return Split{}, invalidf("routing all traffic to %q: not a valid revision name (lower-case letters, digits and '-', starting with a letter, at most 63 characters)", revision)
	}
	return route(s, map[string]int{revision: 100})
}

// SetTag points tag at revision, so that the tag's URL reaches it. The tag is
// first removed from any other entry (an entry left untagged with 0% is
// dropped); then it is put on revision's first untagged entry if it has one,
// else a tag-only {revision, 0%, tag} entry is appended. An empty split is
// first spelled out as {LATEST, 100%}. The tag must be a DNS label and
// revision a valid revision name ([twostage.ErrInvalid] otherwise); the
// Cloud Run limit on tag plus service name length is checked by
// Validate(result, service), not here.
func SetTag(s Split, tag, revision string) (Split, error) {
	what := "setting tag " + strconv.Quote(tag) + " on " + strconv.Quote(revision)
	if !names.DNSLabel(tag) {
		return Split{}, invalidf("%s: tag %q is not a DNS label (lower-case letters, digits and '-', starting with a letter, not ending with '-', at most 63 characters)", what, tag)
	}
	if !names.DNSLabel(revision) {
		return Split{}, invalidf("%s: revision %q is not a valid revision name (lower-case letters, digits and '-', starting with a letter, at most 63 characters)", what, revision)
	}
	out := removeTag(materialize(s), tag)
	for i, t := range out {
		if !t.Latest && t.Revision == revision && t.Tag == "" {
			out[i].Tag = tag
			return withTargets(s, out), nil
		}
	}
	out = append(out, Target{Revision: revision, Tag: tag})
	return withTargets(s, out), nil
}

// RemoveTag removes tag from the split, dropping the entry that carried it if
// it is left untagged with 0%. An absent tag leaves the split unchanged
// (copied).
func RemoveTag(s Split, tag string) Split {
	if tag == "" || !slices.ContainsFunc(s.Targets, func(t Target) bool { return t.Tag == tag }) {
		return s.Clone()
	}
	return withTargets(s, removeTag(slices.Clone(s.Targets), tag))
}

// removeTag removes tag from ts in place (an entry left untagged with 0% is
// dropped) and returns the shortened slice.
func removeTag(ts []Target, tag string) []Target {
	out := ts[:0]
	for _, t := range ts {
		if t.Tag == tag {
			if t.Percent == 0 {
				continue
			}
			t.Tag = ""
		}
		out = append(out, t)
	}
	return out
}

// TagOf returns the revision tag points at. A Latest target's tag resolves to
// s.LatestRevision (which is "" when the split does not know it; ok is true
// all the same). An absent tag gives "", false.
func TagOf(s Split, tag string) (revision string, ok bool) {
	if tag == "" {
		return "", false
	}
	for _, t := range s.Targets {
		if t.Tag == tag {
			if t.Latest {
				return s.LatestRevision, true
			}
			return t.Revision, true
		}
	}
	return "", false
}

// Normalize returns the canonical form of s, which two splits share exactly
// when they route traffic and tags identically:
//
//   - an empty split is spelled out as {LATEST, 100%};
//   - each destination (a revision, or LATEST) with traffic gets one untagged
//     entry carrying the sum of its entries' percents;
//   - each tag becomes a tag-only 0% entry of the destination it points at
//     (a tag that appears on several entries of one destination is kept
//     once);
//   - untagged 0% entries are dropped;
//   - entries are sorted by percent (highest first), then LATEST before
//     revisions, then revision name, then tag.
//
// Version, State and LatestRevision are copied from s. Normalize does not
// validate: a valid split gives a valid result, and an invalid one (say,
// with a duplicated tag) stays invalid in the same way.
func Normalize(s Split) Split {
	type key struct {
		latest   bool
		revision string
		tag      string
	}
	ts := s.Targets
	if len(ts) == 0 {
		ts = []Target{implicitLatest}
	}
	sums := make(map[key]int, len(ts))
	for _, t := range ts {
		k := key{latest: t.Latest, revision: t.Revision}
		if t.Tag != "" {
			sums[key{latest: t.Latest, revision: t.Revision, tag: t.Tag}] += 0
		}
		sums[k] += t.Percent
	}
	out := make([]Target, 0, len(sums))
	for k, p := range sums {
		if k.tag == "" && p == 0 {
			continue
		}
		out = append(out, Target{Revision: k.revision, Latest: k.latest, Percent: p, Tag: k.tag})
	}
	slices.SortFunc(out, compareTargets)
	return withTargets(s, out)
}

// compareTargets orders targets as [Normalize] sorts them.
func compareTargets(a, b Target) int {
	return cmp.Or(
		cmp.Compare(b.Percent, a.Percent),
		compareBool(b.Latest, a.Latest),
		strings.Compare(a.Revision, b.Revision),
		strings.Compare(a.Tag, b.Tag),
	)
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}

// Equal reports whether a and b route traffic and tags identically, that is
// whether their [Normalize]d Targets are equal. Version, State and
// LatestRevision are ignored.
func Equal(a, b Split) bool {
	return slices.Equal(Normalize(a).Targets, Normalize(b).Targets)
}

// String renders the split on one line for logs and audit records, for
// example "api-1=95%,api-2=5%[candidate]": one item per destination (LATEST
// for a Latest target) with its share and, in brackets, its tags in order;
// items by share (highest first), then LATEST first, then name. An empty
// split prints "LATEST=100%". Equal splits print the same.
func (s Split) String() string {
	var b strings.Builder
	for i, d := range destinations(s) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(d.label())
		b.WriteByte('=')
		b.WriteString(strconv.Itoa(d.percent))
		b.WriteByte('%')
		if len(d.tags) > 0 {
			b.WriteByte('[')
			b.WriteString(strings.Join(d.tags, ","))
			b.WriteByte(']')
		}
	}
	return b.String()
}

// destination is where a split routes: a revision, or LATEST.
type destination struct {
	latest   bool
	revision string
	percent  int
	tags     []string // sorted, unique
}

func (d destination) label() string {
	if d.latest {
		return "LATEST"
	}
	return d.revision
}

// destinations groups s's targets by destination, in [Split.String] order:
// share (highest first), then LATEST first, then revision name.
func destinations(s Split) []destination {
	type key struct {
		latest   bool
		revision string
	}
	idx := make(map[key]int)
	var out []destination
	for _, t := range Normalize(s).Targets {
		k := key{t.Latest, t.Revision}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, destination{latest: t.Latest, revision: t.Revision})
		}
		out[i].percent += t.Percent
		if t.Tag != "" {
			out[i].tags = append(out[i].tags, t.Tag)
		}
	}
	for i := range out {
		slices.Sort(out[i].tags)
	}
	slices.SortFunc(out, func(a, b destination) int {
		return cmp.Or(
			cmp.Compare(b.percent, a.percent),
			compareBool(b.latest, a.latest),
			strings.Compare(a.revision, b.revision),
		)
	})
	return out
}
