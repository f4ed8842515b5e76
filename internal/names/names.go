// Package names holds the name rules several packages check: the DNS-label
// form of Cloud Run revision names, tags and service names.
package names

// MaxDNSLabel is the longest a DNS label (RFC 1035) may be.
const MaxDNSLabel = 63

// DNSLabel reports whether s matches ^[a-z]([-a-z0-9]*[a-z0-9])?$ and is at
// most [MaxDNSLabel] characters long: the rule for Cloud Run revision names,
// traffic tags and (with a shorter limit) service names.
func DNSLabel(s string) bool {
	if s == "" || len(s) > MaxDNSLabel || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
