package metricsfile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path"
	"strings"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/traffic/analysis"
)

// Traffic is one revision's scripted traffic.
type Traffic struct {
	// RPS is the requests per second the revision receives, ≥ 0.
	RPS float64 `json:"rps"`
	// ErrorRate is the fraction of requests that fail, in [0, 1].
	ErrorRate float64 `json:"error-rate"`
}

// File is the file's content.
type File struct {
	Revisions map[string]Traffic `json:"revisions"`
}

// Parse decodes and checks a traffic file. Errors wrap twostage.ErrInvalid.
func Parse(data []byte) (File, error) {
	var f File
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return File{}, fmt.Errorf("metrics file: %v; want {\"revisions\": {\"NAME-OR-PATTERN\": {\"rps\": 20, \"error-rate\": 0.01}}}: %w", err, twostage.ErrInvalid)
	}
	if dec.More() {
		return File{}, fmt.Errorf("metrics file: data after the JSON object: %w", twostage.ErrInvalid)
	}
	for k, t := range f.Revisions {
		if _, err := path.Match(k, ""); err != nil {
			return File{}, fmt.Errorf("metrics file: key %q is not a valid pattern: %w", k, twostage.ErrInvalid)
		}
		if !(t.RPS >= 0 && t.RPS <= 1e6) || !(t.ErrorRate >= 0 && t.ErrorRate <= 1) {
			return File{}, fmt.Errorf("metrics file: %q: rps %v must be in [0, 1e6] and error-rate %v in [0, 1]: %w", k, t.RPS, t.ErrorRate, twostage.ErrInvalid)
		}
	}
	return f, nil
}

// Lookup returns the traffic of revision rev in region: keys
// "REGION/NAME-OR-PATTERN" for that region first, then keys without a
// region. Within each kind the exact name wins, then the longest matching
// pattern.
func (f File) Lookup(region, rev string) (Traffic, bool) {
	if region != "" {
		if t, ok := f.lookup(region+"/"+rev, true); ok {
			return t, true
		}
	}
	return f.lookup(rev, false)
}

func (f File) lookup(name string, regional bool) (Traffic, bool) {
	if t, ok := f.Revisions[name]; ok {
		return t, true
	}
	best, found := "", false
	for k := range f.Revisions {
		if strings.Contains(k, "/") != regional {
			continue
		}
		if ok, _ := path.Match(k, name); ok && (!found || len(k) > len(best) || len(k) == len(best) && k < best) {
			best, found = k, true
		}
	}
	return f.Revisions[best], found
}

// Count is the cumulative count of t over d.
func (t Traffic) Count(seconds float64) analysis.Count {
	if seconds <= 0 {
		return analysis.Count{}
	}
	req := int64(math.Floor(t.RPS * seconds))
	return analysis.Count{Requests: req, Errors: int64(math.Floor(t.ErrorRate * float64(req)))}
}

// Source reads the file at Path on every query, for the revisions of one
// Region (empty: keys with a region never match). It is safe for
// concurrent use.
type Source struct {
	Path   string
	Region string
}

var _ analysis.Metrics = Source{}

// Counts answers q from the file: complete data through q.End.
func (s Source) Counts(_ context.Context, q analysis.Query) (analysis.Counts, error) {
	if len(q.Revisions) == 0 {
		return analysis.Counts{}, fmt.Errorf("metrics file: %w", analysis.ErrNoRevisions)
	}
	data, err := os.ReadFile(s.Path)
	if err != nil {
		return analysis.Counts{}, fmt.Errorf("reading scripted traffic: %w", err)
	}
	f, err := Parse(data)
	if err != nil {
		return analysis.Counts{}, fmt.Errorf("%s: %w", s.Path, err)
	}
	out := analysis.Counts{Revisions: map[string]analysis.Count{}, Through: q.End}
	secs := q.End.Sub(q.Start).Seconds()
	for _, r := range q.Revisions {
		t, _ := f.Lookup(s.Region, r)
		out.Revisions[r] = t.Count(secs)
	}
	return out, nil
}
