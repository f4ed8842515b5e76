package stage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/twostage/twostage"
)

// MaxRevisionNameLen is the longest a Cloud Run revision name may be: it is
// a DNS label (RFC 1035), ^[a-z]([-a-z0-9]*[a-z0-9])?$, of at most 63
// characters.
const MaxRevisionNameLen = 63

// MaxServiceNameLen is the longest a Cloud Run service name may be. Source:
// the Cloud Run Admin API v2, runpb CreateServiceRequest.service_id: "It
// must begin with letter, and cannot end with hyphen; must contain fewer
// than 50 characters."
const MaxServiceNameLen = 49

// shortSHALen is the length of the abbreviated commit SHA in revision names.
const shortSHALen = 7

// ShortSHA validates a commit SHA, 7 to 40 hexadecimal characters in any case
// (or 64, the length of a SHA-256 repository's object names), and returns its
// first 7 characters in lower case. An error wraps [twostage.ErrInvalid] and
// names the value.
func ShortSHA(sha string) (string, error) {
	n := len(sha)
	if !(n >= shortSHALen && n <= 40 || n == 64) {
		return "", fmt.Errorf("stage: commit SHA %q has %d characters, want 7 to 40 (or 64) hexadecimal digits: %w", sha, n, twostage.ErrInvalid)
	}
	for i := 0; i < n; i++ {
		if !isHex(sha[i]) {
			return "", fmt.Errorf("stage: commit SHA %q: character %q at position %d is not a hexadecimal digit: %w", sha, sha[i], i+1, twostage.ErrInvalid)
		}
	}
	return strings.ToLower(sha[:shortSHALen]), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// DevSuffix returns the revision suffix of a dev deploy of commit sha:
// "<sha7>", the first 7 characters of the SHA in lower case. Joined with the
// service name by [RevisionName] it gives "<service>-<sha7>".
func DevSuffix(sha string) (string, error) {
	s, err := ShortSHA(sha)
	if err != nil {
		return "", fmt.Errorf("stage: deriving the dev revision suffix: %w", err)
	}
	return s, nil
}

// ReleaseSuffix returns the revision suffix of a prod deploy of release tag
// on commit sha: "v1.4.2" and "abcdef1234…" give "v1-4-2-abcdef1". A git
// tag is not a valid revision name as it is (dots, upper case), so:
//
//   - a leading "refs/tags/" is removed;
//   - semver build metadata (from the first '+') is dropped, because per
//     semver (§10) it does not identify a different version: two tags that
//     differ only in build metadata, on one commit, map to one revision;
//   - the tag is lower-cased, and each run of characters outside [a-z0-9]
//     becomes one '-', so a pre-release is kept: "v2.0.0-RC.1" gives
//     "v2-0-0-rc-1";
//   - leading and trailing '-' are trimmed, and a tag starting with a digit
//     gets a "v" prefix ("1.4.2" gives "v1-4-2");
//   - "-<sha7>" is appended ([ShortSHA]).
//
// A tag that leaves nothing ("", "+build", "...") or an invalid SHA fails
// with an error wrapping [twostage.ErrInvalid] that names the value. The
// suffix is not shortened here; [RevisionName] shortens its front part when
// the full name would be too long.
func ReleaseSuffix(tag, sha string) (string, error) {
	s, err := ShortSHA(sha)
	if err != nil {
		return "", fmt.Errorf("stage: deriving the revision suffix of release %q: %w", tag, err)
	}
	t := sanitizeTag(tag)
	if t == "" {
		return "", fmt.Errorf("stage: release tag %q has no letters or digits before its build metadata to name a revision after; use a tag such as v1.4.2: %w", tag, twostage.ErrInvalid)
	}
	return t + "-" + s, nil
}

// sanitizeTag maps a release tag to the front part of a release suffix.
func sanitizeTag(tag string) string {
	t := strings.TrimPrefix(tag, "refs/tags/")
	if i := strings.IndexByte(t, '+'); i >= 0 {
		t = t[:i]
	}
	t = slug(t)
	if t != "" && t[0] >= '0' && t[0] <= '9' {
		t = "v" + t
	}
	return t
}

// slug lower-cases s, replaces each run of characters outside [a-z0-9] by
// one '-' and trims '-' at both ends.
func slug(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	dash := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteByte(c)
			continue
		}
		dash = true
	}
	return b.String()
}

// AttemptSuffix returns suffix with "-<n>" appended for attempt n ≥ 2, and
// suffix unchanged for n ≤ 1. A caller uses it to deploy a fresh revision
// instead of failing when a revision name is already taken by a different
// configuration: "v1-4-2-abcdef1" attempt 2 is "v1-4-2-abcdef1-2".
// [RevisionName] keeps the attempt number and the SHA when it must shorten
// the name.
func AttemptSuffix(suffix string, n int) string {
	if n <= 1 {
		return suffix
	}
	return suffix + "-" + strconv.Itoa(n)
}

// RevisionName joins service and suffix into a revision name,
// "<service>-<suffix>", of at most [MaxRevisionNameLen] characters.
//
// A suffix that already starts with "<service>-" is taken as a full name
// (see [Release.Revision]), so RevisionName(s, RevisionName(s, x)) is
// RevisionName(s, x).
//
// When the name would be too long, the front part of the suffix is cut,
// keeping its tail: the trailing "<sha7>" of [DevSuffix] or [ReleaseSuffix]
// and the "-<n>" of [AttemptSuffix] if any (a last '-'-separated part of 7
// lower-case hexadecimal characters, optionally followed by one of digits),
// or else its last 8 characters. A suffix of at most 8 characters is kept
// whole. Cut, the front keeps as many of its leading characters as fit
// beside "-<hash4>", the first 4 hexadecimal digits of the SHA-256 of the
// whole front, so that two tags on one commit still get two names: a
// 49-character service with "v1-4-2-abcdef1" gives "<service>-<hash4>-abcdef1"
// and with "v1-4-3-abcdef1" another hash; a 45-character service with
// "v1-4-2-rc-1-abcdef1" gives "<service>-v1-4-<hash4>-abcdef1". Only when
// fewer than 4 characters are left for the front is the hash shortened (at
// worst dropped, when the service name leaves no room at all). Shortening is
// deterministic; stage/cloudrun and package fake both derive names here.
//
// The service name is checked by [ValidateServiceName] and the result by
// [ValidateRevisionName]: a suffix with characters a revision name cannot
// hold fails, with the error suggesting a derivation. Errors wrap
// [twostage.ErrInvalid].
func RevisionName(service, suffix string) (string, error) {
	if err := ValidateServiceName(service); err != nil {
		return "", err
	}
	suffix = strings.TrimPrefix(suffix, service+"-")
	if suffix == "" {
		return "", fmt.Errorf("stage: naming a revision of service %q: the suffix is empty; derive one with DevSuffix or ReleaseSuffix: %w", service, twostage.ErrInvalid)
	}
	name := service + "-" + suffix
	if len(name) > MaxRevisionNameLen {
		name = shorten(service, suffix)
	}
	if err := ValidateRevisionName(name); err != nil {
		return "", fmt.Errorf("stage: naming a revision of service %q with suffix %q: %w", service, suffix, err)
	}
	return name, nil
}

// shortHashLen is how many hexadecimal digits of the front's hash a
// shortened name keeps (see RevisionName).
const shortHashLen = 4

// shorten builds "<service>-<front>-<hash4>-<tail>" within
// MaxRevisionNameLen by cutting the front part of suffix and marking the
// cut with a short hash of the whole front (see RevisionName).
func shorten(service, suffix string) string {
	tail := suffixTail(suffix)
	front := strings.TrimRight(suffix[:len(suffix)-len(tail)], "-")
	tail = strings.TrimLeft(tail, "-")
	room := MaxRevisionNameLen - len(service) - 1 - len(tail) - 1 // the two '-'
	if room <= 0 || front == "" {
		return service + "-" + tail
	}
	sum := sha256.Sum256([]byte(front))
	hash := hex.EncodeToString(sum[:])[:min(shortHashLen, room)]
	keep := strings.TrimRight(front[:max(0, min(room-shortHashLen-1, len(front)))], "-")
	if keep == "" {
		return service + "-" + hash + "-" + tail
	}
	return service + "-" + keep + "-" + hash + "-" + tail
}

// suffixTail returns the part of suffix RevisionName keeps when shortening.
func suffixTail(suffix string) string {
	if len(suffix) <= shortSHALen+1 {
		return suffix
	}
	parts := strings.Split(suffix, "-")
	last := parts[len(parts)-1]
	if isShortSHA(last) {
		return last
	}
	if len(parts) >= 2 && isDigits(last) && isShortSHA(parts[len(parts)-2]) {
		return parts[len(parts)-2] + "-" + last
	}
	return suffix[len(suffix)-(shortSHALen+1):]
}

func isShortSHA(s string) bool {
	if len(s) != shortSHALen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ValidateRevisionName reports whether name is a valid Cloud Run revision
// name: lower-case letters, digits and '-', starting with a letter, not
// ending with '-', at most [MaxRevisionNameLen] characters. The error wraps
// [twostage.ErrInvalid], names the value and the rule it breaks and, when
// one exists, suggests a valid name derived from it ("api-v1.4.2" suggests
// "api-v1-4-2").
func ValidateRevisionName(name string) error {
	if msg := labelProblem(name, MaxRevisionNameLen); msg != "" {
		return fmt.Errorf("stage: revision name %q %s%s: %w", name, msg, suggest(name, MaxRevisionNameLen), twostage.ErrInvalid)
	}
	return nil
}

// ValidateServiceName reports whether name is a valid Cloud Run service
// name: lower-case letters, digits and '-', starting with a letter, not
// ending with '-', at most [MaxServiceNameLen] characters. The error wraps
// [twostage.ErrInvalid], names the value and the rule it breaks and, when
// one exists, suggests a valid name derived from it.
func ValidateServiceName(name string) error {
	if msg := labelProblem(name, MaxServiceNameLen); msg != "" {
		return fmt.Errorf("stage: service name %q %s%s: %w", name, msg, suggest(name, MaxServiceNameLen), twostage.ErrInvalid)
	}
	return nil
}

// labelProblem returns which rule of a DNS label of at most maxLen
// characters name breaks, or "" if none.
func labelProblem(name string, maxLen int) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > maxLen:
		return fmt.Sprintf("is %d characters long, more than the %d allowed", len(name), maxLen)
	case name[0] < 'a' || name[0] > 'z':
		return fmt.Sprintf("starts with %q; it must start with a lower-case letter", name[0])
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Sprintf("has %q at position %d; only lower-case letters, digits and '-' are allowed", c, i+1)
		}
	}
	if name[len(name)-1] == '-' {
		return "ends with '-'; it must end with a letter or digit"
	}
	return ""
}

// suggest returns ", did you mean \"x\"?" for a valid name x derived from
// name, or "" when none can be derived.
func suggest(name string, maxLen int) string {
	s := slug(name)
	if len(s) > maxLen {
		s = strings.TrimRight(s[:maxLen], "-")
	}
	if s == "" || s == name || labelProblem(s, maxLen) != "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", s)
}
