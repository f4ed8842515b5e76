package traffic

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Diff renders the change from before to after for a person: logs and the
// CLI print it. It returns "no change" when the splits are [Equal];
// otherwise one line per destination (a revision, or LATEST) found in
// either split, with aligned columns: the name, the share before and after,
// then notes:
//
//	api-00003-def    5% → 100%  +tag stable, tag candidate removed
//	api-00002-abc   95% → 0%    +tag previous, tag stable removed
//	api-00004-ghi    0% → 0%    +tag preview (new)
//
// Notes list the destination's tags after the change, separated by ", ",
// marking a tag that was added "+tag NAME" and one that was removed
// "tag NAME removed"; then "(new)" for a destination absent from before,
// "(gone)" for one absent from after, and "(unchanged)" for a line whose
// share and tags did not change. A destination absent from one side has 0%
// there. LATEST
// is labelled "LATEST (rev)" when the split knows its latest revision
// (after's LatestRevision, else before's). Lines are ordered by share after
// (highest first), then LATEST first, then name; the output does not end
// with a newline.
func Diff(before, after Split) string {
	if Equal(before, after) {
		return "no change"
	}
	type row struct {
		dest          destination
		before, after *destination
	}
	keyOf := func(d destination) string {
		if d.latest {
			return "\x00" // sorts LATEST first, cannot clash with a name
		}
		return d.revision
	}
	rows := make(map[string]*row)
	for _, d := range destinations(before) {
		rows[keyOf(d)] = &row{dest: d, before: &d}
	}
	for _, d := range destinations(after) {
		if r, ok := rows[keyOf(d)]; ok {
			r.after = &d
			continue
		}
		rows[keyOf(d)] = &row{dest: d, after: &d}
	}
	list := make([]*row, 0, len(rows))
	for _, r := range rows {
		list = append(list, r)
	}
	share := func(d *destination) int {
		if d == nil {
			return -1
		}
		return d.percent
	}
	slices.SortFunc(list, func(a, b *row) int {
		return cmp.Or(
			cmp.Compare(share(b.after), share(a.after)),
			cmp.Compare(keyOf(a.dest), keyOf(b.dest)),
		)
	})

	latest := cmp.Or(after.LatestRevision, before.LatestRevision)
	type line struct{ name, before, after, notes string }
	lines := make([]line, 0, len(list))
	for _, r := range list {
		name := r.dest.label()
		if r.dest.latest && latest != "" {
			name += " (" + latest + ")"
		}
		lines = append(lines, line{
			name:   name,
			before: percentText(r.before),
			after:  percentText(r.after),
			notes:  diffNotes(r.before, r.after),
		})
	}
	var wName, wBefore, wAfter int
	for _, l := range lines {
		wName = max(wName, len(l.name))
		wBefore = max(wBefore, len(l.before))
		wAfter = max(wAfter, len(l.after))
	}
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		s := pad(l.name, wName) + "  " + strings.Repeat(" ", wBefore-len(l.before)) + l.before + " → " + pad(l.after, wAfter)
		if l.notes != "" {
			s += "  " + l.notes
		}
		b.WriteString(strings.TrimRight(s, " "))
	}
	return b.String()
}

func percentText(d *destination) string {
	if d == nil {
		return "0%"
	}
	return strconv.Itoa(d.percent) + "%"
}

func pad(s string, w int) string { return s + strings.Repeat(" ", w-len(s)) }

// diffNotes describes tag and presence changes of one destination.
func diffNotes(before, after *destination) string {
	var was, now []string
	if before != nil {
		was = before.tags
	}
	if after != nil {
		now = after.tags
	}
	var notes []string // tag notes, joined by ", "
	for _, t := range now {
		if slices.Contains(was, t) {
			notes = append(notes, t)
		} else {
			notes = append(notes, "+tag "+t)
		}
	}
	for _, t := range was {
		if !slices.Contains(now, t) {
			notes = append(notes, "tag "+t+" removed")
		}
	}
	var mark string
	switch {
	case before == nil:
		mark = "(new)"
	case after == nil:
		mark = "(gone)"
	case before.percent == after.percent && slices.Equal(was, now):
		mark = "(unchanged)"
	}
	return strings.TrimSpace(strings.Join(notes, ", ") + " " + mark)
}
