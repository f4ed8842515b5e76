// Package syntax holds the small lexical rules that package wif and its
// sub-packages share: quoting a CEL string literal and the shape of a
// custom attribute name.
package syntax

import (
	"fmt"
	"strings"
)

// QuoteCEL quotes s as a CEL string literal.
func QuoteCEL(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// AttributeName reports whether name is 1 or more of [a-z0-9_], the
// characters IAM allows in NAME of attribute.NAME.
func AttributeName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
