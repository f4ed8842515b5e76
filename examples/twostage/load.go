package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twostage/twostage/examples/twostage/internal/backend"
	"github.com/twostage/twostage/fake/cloudrunfake"
)

// loadResult is what `load` sent and got back.
type loadResult struct {
	URL      string         `json:"url"`
	Rate     float64        `json:"rate"`
	Sent     int            `json:"sent"`
	Failed   int            `json:"failed"` // no response (connection errors)
	ByStatus map[string]int `json:"byStatus"`
	P50      string         `json:"p50"`
	P99      string         `json:"p99"`
}

func (r loadResult) Text() string {
	codes := make([]string, 0, len(r.ByStatus))
	for c := range r.ByStatus {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	var b strings.Builder
	fmt.Fprintf(&b, "sent %d requests to %s at %g/s: ", r.Sent, r.URL, r.Rate)
	for i, c := range codes {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s × %d", c, r.ByStatus[c])
	}
	if r.Failed > 0 {
		fmt.Fprintf(&b, ", %d without a response", r.Failed)
	}
	fmt.Fprintf(&b, "; latency p50 %s, p99 %s\n", r.P50, r.P99)
	return b.String()
}

// profileFlags collects repeated --profile values.
type profileFlags []string

func (p *profileFlags) String() string     { return strings.Join(*p, "; ") }
func (p *profileFlags) Set(v string) error { *p = append(*p, v); return nil }

// cmdLoad sends a steady rate of requests to a service of the emulator's
// data plane (local play: TWOSTAGE_EMULATOR_HOST), through the service URL
// (traffic follows the split) or a tag URL, so the gates read Cloud
// Monitoring numbers made of real responses. --profile scripts a revision's
// errors and latency (cloudrunfake.ProfileHeader), for images that cannot
// run here.
func (a *app) cmdLoad(ctx context.Context, args []string) (any, error) {
	fs := a.flags("load")
	stageName := fs.String("stage", "prod", `the service: "prod" or "dev"`)
	tag := fs.String("tag", "", "send to this tag's URL (for example candidate) instead of the service URL")
	url := fs.String("url", "", "send to this *.run.app URL instead of the stage's")
	path := fs.String("path", "/", "the request path")
	rate := fs.Float64("rate", 50, "requests per second")
	duration := fs.Duration("duration", 30*time.Second, "how long to send (0: until interrupted or --count)")
	count := fs.Int("count", 0, "stop after this many requests (0: no limit)")
	var profiles profileFlags
	fs.Var(&profiles, "profile", "REVISION=errors:P,latency:D: how the emulator answers for a revision (repeatable)")
	if err := a.parse(fs, args); err != nil {
		return nil, err
	}
	if *rate <= 0 || *rate > 100000 {
		return nil, usagef("--rate %g: want a rate in (0, 100000] requests per second", *rate)
	}
	if *count < 0 {
		return nil, usagef("--count %d: want a number of requests, or 0 for no limit", *count)
	}
	header, err := cloudrunfake.ParseProfiles(strings.Join(profiles, ";"))
	if err != nil {
		return nil, usagef("--profile: %v", err)
	}
	host := a.env(backend.EnvEmulatorHost)
	if host == "" {
		return nil, usagef("twostage load sends requests to the emulator's data plane (local play): run `twostage emulator` and set %s", backend.EnvEmulatorHost)
	}
	e, err := backend.ResolveEmulatorHost(ctx, http.DefaultClient, host)
	if err != nil {
		return nil, err
	}
	if *url == "" {
		if *url, err = a.stageURL(ctx, *stageName, *tag); err != nil {
			return nil, err
		}
	}
	client := cloudrunfake.NewHTTPClient(e.Run)
	defer client.CloseIdleConnections()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	res := sendLoad(ctx, client, strings.TrimSuffix(*url, "/")+*path, *rate, *count, cloudrunfake.FormatProfiles(header))
	return res, nil
}

// stageURL returns the URL of the stage's service, or of its tag.
func (a *app) stageURL(ctx context.Context, stageName, tag string) (string, error) {
	p, err := a.open(ctx)
	if err != nil {
		return "", err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return "", err
	}
	s := st.Prod
	switch stageName {
	case "prod":
	case "dev":
		s = st.Dev
	default:
		return "", usagef("--stage %q: want prod or dev", stageName)
	}
	for _, r := range s.Revisions {
		if tag != "" {
			if u := r.TagURLs[tag]; u != "" {
				return u, nil
			}
			continue
		}
		if r.URL != "" {
			return r.URL, nil
		}
	}
	if tag != "" {
		return "", fmt.Errorf("the %s service has no tag %q", stageName, tag)
	}
	return "", fmt.Errorf("the %s service has no URL yet: deploy first", stageName)
}

// sendLoad sends GET url at rate per second until ctx ends or count
// requests were sent (count 0: no limit), from a pool of workers, and
// summarises the answers.
func sendLoad(ctx context.Context, c *http.Client, url string, rate float64, count int, profile string) loadResult {
	res := loadResult{URL: url, Rate: rate, ByStatus: map[string]int{}}
	var mu sync.Mutex // guards res and lat
	var lat []time.Duration
	work := make(chan struct{}, 1024)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range work {
				req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, url, nil)
				if err != nil {
					continue
				}
				if profile != "" {
					req.Header.Set(cloudrunfake.ProfileHeader, profile)
				}
				start := time.Now()
				resp, err := c.Do(req)
				d := time.Since(start)
				mu.Lock()
				res.Sent++
				if err != nil {
					res.Failed++
				} else {
					res.ByStatus[fmt.Sprint(resp.StatusCode)]++
					lat = append(lat, d)
				}
				mu.Unlock()
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	// A steady rate: every 10 ms, the requests due since the start.
	start, sent := time.Now(), 0
	tick := time.NewTicker(10 * time.Millisecond)
	func() {
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				due := int(now.Sub(start).Seconds() * rate)
				if count > 0 {
					due = min(due, count)
				}
				for ; sent < due; sent++ {
					select {
					case work <- struct{}{}:
					case <-ctx.Done():
						return
					}
				}
				if count > 0 && sent == count {
					return
				}
			}
		}
	}()
	close(work)
	wg.Wait()
	slices.Sort(lat)
	q := func(p float64) string {
		if len(lat) == 0 {
			return "-"
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(time.Microsecond).String()
	}
	res.P50, res.P99 = q(0.5), q(0.99)
	return res
}
