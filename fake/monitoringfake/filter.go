package monitoringfake

import (
	"fmt"
	"strings"
)

// clause is one comparison of a filter: key op values.
type clause struct {
	key    string   // normalised: "metric.type", "resource.type", "resource.labels.X", "metric.labels.X"
	negate bool     // !=
	values []string // one value, or several for one_of
}

// parseFilter parses the subset of the Cloud Monitoring filter language the
// emulator supports (see the package documentation) and reports, for a
// filter it cannot emulate, what is not supported.
func parseFilter(s string) ([]clause, error) {
	p := &parser{s: s}
	var out []clause
	for {
		p.space()
		if p.eof() {
			break
		}
		if len(out) > 0 && p.word("AND") {
			p.space()
		}
		c, err := p.clause()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("filter %q is empty; it must name a metric type, for example metric.type = \"run.googleapis.com/request_count\"", s)
	}
	return out, nil
}

type parser struct {
	s string
	i int
}

func (p *parser) eof() bool { return p.i >= len(p.s) }

func (p *parser) space() {
	for p.i < len(p.s) && strings.ContainsRune(" \t\r\n", rune(p.s[p.i])) {
		p.i++
	}
}

// word consumes w if it follows as a whole word.
func (p *parser) word(w string) bool {
	if !strings.HasPrefix(p.s[p.i:], w) {
		return false
	}
	j := p.i + len(w)
	if j < len(p.s) && !strings.ContainsRune(" \t\r\n", rune(p.s[j])) {
		return false
	}
	p.i = j
	return true
}

func (p *parser) clause() (clause, error) {
	key, err := p.key()
	if err != nil {
		return clause{}, err
	}
	p.space()
	var c clause
	c.key = key
	switch {
	case strings.HasPrefix(p.s[p.i:], "!="):
		c.negate = true
		p.i += 2
	case strings.HasPrefix(p.s[p.i:], "="):
		p.i++
	default:
		return clause{}, fmt.Errorf("filter %q: at offset %d want = or != after %s (other operators are not emulated)", p.s, p.i, key)
	}
	p.space()
	if strings.HasPrefix(p.s[p.i:], "one_of(") {
		if c.negate {
			return clause{}, fmt.Errorf("filter %q: != one_of(...) is not emulated", p.s)
		}
		p.i += len("one_of(")
		for {
			p.space()
			v, err := p.str()
			if err != nil {
				return clause{}, err
			}
			c.values = append(c.values, v)
			p.space()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(p.s) && p.s[p.i] == ')' {
				p.i++
				return c, nil
			}
			return clause{}, fmt.Errorf("filter %q: at offset %d want , or ) in one_of", p.s, p.i)
		}
	}
	v, err := p.str()
	if err != nil {
		return clause{}, err
	}
	c.values = []string{v}
	return c, nil
}

// key reads a selector and normalises label(s) spelling.
func (p *parser) key() (string, error) {
	var parts []string
	for {
		if p.i < len(p.s) && p.s[p.i] == '"' {
			v, err := p.str()
			if err != nil {
				return "", err
			}
			parts = append(parts, v)
		} else {
			j := p.i
			for j < len(p.s) && (p.s[j] == '_' || p.s[j] == '-' || ('a' <= p.s[j] && p.s[j] <= 'z') || ('A' <= p.s[j] && p.s[j] <= 'Z') || ('0' <= p.s[j] && p.s[j] <= '9')) {
				j++
			}
			if j == p.i {
				return "", fmt.Errorf("filter %q: at offset %d want a selector such as metric.type or resource.labels.NAME", p.s, p.i)
			}
			parts = append(parts, p.s[p.i:j])
			p.i = j
		}
		if p.i < len(p.s) && p.s[p.i] == '.' {
			p.i++
			continue
		}
		break
	}
	switch {
	case len(parts) == 2 && (parts[0] == "metric" || parts[0] == "resource") && parts[1] == "type":
		return parts[0] + ".type", nil
	case len(parts) == 3 && (parts[0] == "metric" || parts[0] == "resource") && (parts[1] == "label" || parts[1] == "labels"):
		return parts[0] + ".labels." + parts[2], nil
	}
	return "", fmt.Errorf("filter %q: selector %q is not emulated (want metric.type, resource.type, metric.labels.NAME or resource.labels.NAME)", p.s, strings.Join(parts, "."))
}

// str reads a double-quoted string with backslash escapes.
func (p *parser) str() (string, error) {
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return "", fmt.Errorf("filter %q: at offset %d want a double-quoted string", p.s, p.i)
	}
	var b strings.Builder
	for j := p.i + 1; j < len(p.s); j++ {
		switch p.s[j] {
		case '\\':
			if j+1 >= len(p.s) {
				return "", fmt.Errorf("filter %q: unterminated string", p.s)
			}
			j++
			b.WriteByte(p.s[j])
		case '"':
			p.i = j + 1
			return b.String(), nil
		default:
			b.WriteByte(p.s[j])
		}
	}
	return "", fmt.Errorf("filter %q: unterminated string", p.s)
}

// match reports whether a series with these types and labels passes every
// clause.
func match(cs []clause, metricType, resourceType string, metricLabels, resourceLabels map[string]string) bool {
	for _, c := range cs {
		var got string
		switch {
		case c.key == "metric.type":
			got = metricType
		case c.key == "resource.type":
			got = resourceType
		case strings.HasPrefix(c.key, "metric.labels."):
			got = metricLabels[strings.TrimPrefix(c.key, "metric.labels.")]
		default:
			got = resourceLabels[strings.TrimPrefix(c.key, "resource.labels.")]
		}
		in := false
		for _, v := range c.values {
			if v == got {
				in = true
				break
			}
		}
		if in == c.negate {
			return false
		}
	}
	return true
}
