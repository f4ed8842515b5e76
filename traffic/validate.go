package traffic

import (
	"fmt"

	"github.com/twostage/twostage/internal/names"

	"github.com/twostage/twostage"
)

// MaxTagServiceLen is the longest a tag and the service name may be
// together: Cloud Run rejects longer ones with "Combined traffic tag and
// service name cannot exceed 46 characters" (they form the tag URL's DNS
// label).
const MaxTagServiceLen = 46

// TagFits reports whether tag can be given to a revision of the named
// service: together they must be at most [MaxTagServiceLen] characters. An
// empty service name (unknown) fits every tag. The rollout engine skips the
// tags it maintains ("candidate", "stable", "prior") on services whose names
// leave no room for them; the rollout still works, without preview URLs.
func TagFits(service, tag string) bool {
	return service == "" || len(service)+len(tag) <= MaxTagServiceLen
}

// ValidateTag reports whether tag can be a traffic tag of the service named
// service: a DNS label that, with the service name, is at most
// [MaxTagServiceLen] characters (an empty service name is not checked). It
// is the rule stage/cloudrun and package fake check a release's tags by.
// The error's message starts with "tag", so callers can say whose tag it is
// ("release tag …"); it wraps [twostage.ErrInvalid].
func ValidateTag(service, tag string) error {
	if !names.DNSLabel(tag) {
		return fmt.Errorf("tag %q is not a DNS label (lower-case letters, digits and '-', starting with a letter, not ending with '-'): %w", tag, twostage.ErrInvalid)
	}
	if !TagFits(service, tag) {
		return fmt.Errorf("tag %q and service name %q together are %d characters; Cloud Run allows %d, shorten the tag to at most %d: %w", tag, service, len(tag)+len(service), MaxTagServiceLen, max(0, MaxTagServiceLen-len(service)), twostage.ErrInvalid)
	}
	return nil
}

// Validate reports whether s is a split Cloud Run would accept for the
// service named service: every target names a revision or is Latest (not
// both), percents are in 0..100 and sum to 100 (an empty split means 100% to
// the latest revision), tags are unique DNS labels, and each tag plus the
// service name is at most [MaxTagServiceLen] characters (skipped when service
// is empty). Errors wrap [twostage.ErrInvalid] and name the target and the
// fix.
func Validate(s Split, service string) error {
	if len(s.Targets) == 0 {
		return nil
	}
	sum := 0
	tags := make(map[string]int, len(s.Targets))
	for i, t := range s.Targets {
		n := i + 1
		switch {
		case t.Latest && t.Revision != "":
			return invalidf("target %d: Latest is set together with revision %q; set one or the other", n, t.Revision)
		case !t.Latest && t.Revision == "":
			return invalidf("target %d: names no revision; set Revision, or Latest to follow the newest ready revision", n)
		case t.Revision != "" && !names.DNSLabel(t.Revision):
			return invalidf("target %d: revision %q is not a valid revision name (lower-case letters, digits and '-', starting with a letter, at most 63 characters)", n, t.Revision)
		case t.Percent < 0 || t.Percent > 100:
			return invalidf("target %d (%s): percent %d is not in 0..100", n, t.describe(), t.Percent)
		}
		sum += t.Percent
		if t.Tag == "" {
			continue
		}
		if !names.DNSLabel(t.Tag) {
			return invalidf("target %d (%s): tag %q is not a DNS label (lower-case letters, digits and '-', starting with a letter, not ending with '-')", n, t.describe(), t.Tag)
		}
		if !TagFits(service, t.Tag) {
			fix := fmt.Sprintf("shorten the tag to at most %d", MaxTagServiceLen-len(service))
			if len(service) >= MaxTagServiceLen {
				fix = "no tag fits beside this service name; drop the tag or use a service name under 46 characters"
			}
			return invalidf("target %d (%s): tag %q and service name %q together are %d characters; Cloud Run allows %d: %s", n, t.describe(), t.Tag, service, len(t.Tag)+len(service), MaxTagServiceLen, fix)
		}
		if prev, dup := tags[t.Tag]; dup {
			return invalidf("targets %d and %d both carry tag %q; a tag names exactly one target", prev, n, t.Tag)
		}
		tags[t.Tag] = n
	}
	if sum != 100 {
		return invalidf("percents sum to %d, want 100", sum)
	}
	return nil
}

func (t Target) describe() string {
	if t.Latest {
		return "LATEST"
	}
	return fmt.Sprintf("revision %q", t.Revision)
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("traffic: "+format+": %w", append(args, twostage.ErrInvalid)...)
}
