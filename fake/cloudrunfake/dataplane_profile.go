package cloudrunfake

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ProfileHeader is the request header that scripts how revisions answer,
// for images that cannot run here and for load tests (twostage load
// --profile): "REVISION=errors:0.05,latency:120ms; OTHER=errors:1". For
// the revision the request is routed to, errors is the probability that
// the data plane answers 500 instead of the revision, and latency is added
// to the latency it records (it is not waited, so simulated time stays
// under the test's control). It is this emulator's own extension, not a
// Cloud Run feature; the header is removed before the revision sees the
// request.
const ProfileHeader = "X-Twostage-Profile"

// Profile is how one revision answers under [ProfileHeader].
type Profile struct {
	// Errors is the probability, in [0, 1], of a 500 answer.
	Errors float64
	// Latency is added to every recorded latency.
	Latency time.Duration
}

// FormatProfiles renders profiles by revision as a [ProfileHeader] value.
func FormatProfiles(byRevision map[string]Profile) string {
	var parts []string
	for rev, p := range byRevision {
		parts = append(parts, fmt.Sprintf("%s=errors:%g,latency:%s", rev, p.Errors, p.Latency))
	}
	return strings.Join(parts, "; ")
}

// ParseProfiles parses a [ProfileHeader] value.
func ParseProfiles(v string) (map[string]Profile, error) {
	out := map[string]Profile{}
	for part := range strings.SplitSeq(v, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		rev, spec, ok := strings.Cut(part, "=")
		rev = strings.TrimSpace(rev)
		if !ok || rev == "" {
			return nil, fmt.Errorf("profile %q: want REVISION=errors:P,latency:D", part)
		}
		var p Profile
		for kv := range strings.SplitSeq(spec, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(kv), ":")
			var err error
			switch {
			case !ok:
				err = fmt.Errorf("want KEY:VALUE")
			case k == "errors":
				p.Errors, err = strconv.ParseFloat(val, 64)
				if err == nil && !(p.Errors >= 0 && p.Errors <= 1) {
					err = fmt.Errorf("%v is not a probability in [0, 1]", p.Errors)
				}
			case k == "latency":
				p.Latency, err = time.ParseDuration(val)
				if err == nil && p.Latency < 0 {
					err = fmt.Errorf("negative latency %v", p.Latency)
				}
			default:
				err = fmt.Errorf("unknown key %q (want errors or latency)", k)
			}
			if err != nil {
				return nil, fmt.Errorf("profile of %s: %q: %w", rev, kv, err)
			}
		}
		out[rev] = p
	}
	return out, nil
}

// serveProfiled serves r with h, applying the request's profile for
// revision if it has one. A nil h (why says why) answers 503, unless the
// profile scripts the revision: then its requests that do not fail answer
// 200.
func (d *dataPlane) serveProfiled(w *statusRecorder, r *http.Request, h http.Handler, why, revision string) {
	v := r.Header.Get(ProfileHeader)
	if v == "" {
		if h == nil {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
		return
	}
	r.Header.Del(ProfileHeader)
	profiles, err := ParseProfiles(v)
	if err != nil {
		http.Error(w, "cloudrunfake: "+ProfileHeader+": "+err.Error(), http.StatusBadRequest)
		return
	}
	p, ok := profiles[revision]
	if !ok {
		if h == nil {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
		return
	}
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = fmt.Fprintf(w, "ok: revision %s answered as %s scripts\n", revision, ProfileHeader)
		})
	}
	w.extra = p.Latency
	if p.Errors > 0 {
		d.randMu.Lock()
		fail := d.rnd.Float64() < p.Errors
		d.randMu.Unlock()
		if fail {
			http.Error(w, "cloudrunfake: error scripted by "+ProfileHeader, http.StatusInternalServerError)
			return
		}
	}
	h.ServeHTTP(w, r)
}
