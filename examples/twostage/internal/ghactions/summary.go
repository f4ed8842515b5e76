package ghactions

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twostage/twostage/pipeline"
)

// ParseShares reads a split in traffic.Split.String form
// ("api-1=95%[stable],api-2=5%[candidate,x]") back into the share of each
// destination ("LATEST" for a latest target). It returns false for text
// not in that form.
func ParseShares(s string) (map[string]int, bool) {
	out := map[string]int{}
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, false
		}
		name := s[:eq]
		rest := s[eq+1:]
		pct := strings.IndexByte(rest, '%')
		if pct <= 0 {
			return nil, false
		}
		n, err := strconv.Atoi(rest[:pct])
		if err != nil || n < 0 || n > 100 || strings.ContainsAny(name, ",[]%") {
			return nil, false
		}
		out[name] += n
		rest = rest[pct+1:]
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, false
			}
			rest = rest[end+1:]
		}
		switch {
		case rest == "":
			s = ""
		case rest[0] == ',':
			s = rest[1:]
			if s == "" {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return out, true
}

// Summary renders audit events as the job summary: a table of what
// happened and, when traffic moved, a Mermaid chart of each revision's
// share over the rollout.
func Summary(title string, events []pipeline.AuditEvent) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\n", title)
	if len(events) == 0 {
		b.WriteString("Nothing happened.\n\n")
		return b.String()
	}
	b.WriteString("| time | action | stage | revision | decision | traffic after | details |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, e := range events {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n",
			e.Time.UTC().Format(time.TimeOnly), e.Action, e.Stage, code(e.Revision), cell(e.Decision), code(e.After), cell(details(e)))
	}
	b.WriteString("\n")
	if chart := Chart(events); chart != "" {
		b.WriteString(chart)
	}
	return b.String()
}

func details(e pipeline.AuditEvent) string {
	s := e.Reason
	if e.Step > 0 {
		s = fmt.Sprintf("step %d (%d%%): %s", e.Step, e.Percent, s)
	}
	if e.Digest != "" && e.Action != pipeline.ActionStep {
		s += " — " + e.Digest
	}
	return s
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.ReplaceAll(s, "`", "'") + "`"
}

func cell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "\r", " ").Replace(s)
}

// Chart renders the traffic of every revision after each event that wrote
// traffic, as a Mermaid xychart: one line per revision, in the legend's
// order. It returns "" when no event wrote traffic.
func Chart(events []pipeline.AuditEvent) string {
	type point struct {
		label  string
		shares map[string]int
	}
	var points []point
	for _, e := range events {
		if e.Stage != "prod" || e.After == "" {
			continue
		}
		after, ok := ParseShares(e.After)
		if !ok {
			continue
		}
		if len(points) == 0 && e.Before != "" {
			if before, ok := ParseShares(e.Before); ok {
				points = append(points, point{"before", before})
			}
		}
		label := string(e.Action)
		switch {
		case e.Action == pipeline.ActionRollback:
			label = "rollback"
		case e.Action == pipeline.ActionRelease:
			label = "release"
		case e.Step > 0:
			label = fmt.Sprintf("step %d", e.Step)
		}
		points = append(points, point{label, after})
	}
	if len(points) < 2 {
		return ""
	}
	var revs []string
	for _, p := range points {
		for r := range p.shares {
			if !slices.Contains(revs, r) {
				revs = append(revs, r)
			}
		}
	}
	slices.Sort(revs)
	var b strings.Builder
	b.WriteString("```mermaid\nxychart-beta\n    title \"prod traffic per revision (%)\"\n    x-axis [")
	for i, p := range points {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", p.label)
	}
	b.WriteString("]\n    y-axis \"percent\" 0 --> 100\n")
	for _, r := range revs {
		b.WriteString("    line [")
		for i, p := range points {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Itoa(p.shares[r]))
		}
		b.WriteString("]\n")
	}
	b.WriteString("```\n\nLines, in order: ")
	for i, r := range revs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d. `%s`", i+1, r)
	}
	b.WriteString("\n\n")
	return b.String()
}
