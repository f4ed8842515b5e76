package pipeline

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// Candidate is a released revision before any traffic reaches it.
type Candidate struct {
	// Revision is the new prod revision.
	Revision stage.Revision
	// URL is its preview (tag) URL; empty when the service name leaves no
	// room for a tag.
	URL string
}

// Verifier checks a candidate before the first traffic step (pre-traffic
// verification). Release runs every verifier after deploying with no
// traffic; a Fail verdict or an error stops the release with 0% ever routed.
//
// Implementations must be safe for concurrent use.
type Verifier interface {
	Verify(ctx context.Context, c Candidate) (traffic.Verdict, error)
}

// GateVerifier runs a traffic.Gate as a pre-traffic check: it is asked
// with Step 0 and Percent 0. An Inconclusive verdict stops the release like
// a Fail: nothing is known to be good before traffic.
func GateVerifier(g traffic.Gate, clock twostage.Clock) Verifier {
	return gateVerifier{g: g, clock: clock}
}

type gateVerifier struct {
	g     traffic.Gate
	clock twostage.Clock
}

func (v gateVerifier) Verify(ctx context.Context, c Candidate) (traffic.Verdict, error) {
	now := v.clock.Now()
	return v.g.Check(ctx, traffic.Check{Candidate: c.Revision.Name, Since: now, Now: now})
}

// HTTPCheck is a smoke test of the candidate's preview URL: GET Path, want
// WantStatus and, if set, BodyContains in the body. The zero value checks
// that "/" answers 200 within 10 seconds, trying 3 times 2 seconds apart.
type HTTPCheck struct {
	// Path is appended to the preview URL. Default "/".
	Path string
	// WantStatus is the expected status code. Default 200.
	WantStatus int
	// BodyContains, if set, must appear in the response body.
	BodyContains string
	// Header is sent with each request, for example an Authorization
	// header carrying an ID token for a service that requires one.
	Header http.Header
	// Timeout bounds each attempt. Default 10s.
	Timeout time.Duration
	// Attempts is how many times to try before failing. Default 3.
	Attempts int
	// RetryDelay is the wait between attempts, on Clock. Default 2s.
	RetryDelay time.Duration
	// Client sends the requests. Default a new http.Client.
	Client *http.Client
	// Clock times the retries. Default twostage.SystemClock().
	Clock twostage.Clock
}

// bodyExcerptLen is how much of a response body a verdict quotes.
const bodyExcerptLen = 200

// Verify runs the smoke test. The verdict's Reason quotes the status and a
// body excerpt; Numbers has "status" and "attempts". An error means the
// check could not be made (no URL, bad path).
func (h HTTPCheck) Verify(ctx context.Context, c Candidate) (traffic.Verdict, error) {
	if c.URL == "" {
		return traffic.Verdict{}, fmt.Errorf("smoke check of %s: no preview URL (the service name may leave no room for the %q tag): %w", c.Revision.Name, traffic.TagCandidate, twostage.ErrInvalid)
	}
	path, want, timeout, attempts, delay := h.Path, h.WantStatus, h.Timeout, h.Attempts, h.RetryDelay
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		return traffic.Verdict{}, fmt.Errorf("smoke check path %q must start with '/': %w", path, twostage.ErrInvalid)
	}
	if want == 0 {
		want = http.StatusOK
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if attempts <= 0 {
		attempts = 3
	}
	if delay <= 0 {
		delay = 2 * time.Second
	}
	client, clock := h.Client, h.Clock
	if client == nil {
		client = &http.Client{}
	}
	if clock == nil {
		clock = twostage.SystemClock()
	}
	url := strings.TrimRight(c.URL, "/") + path
	v := traffic.Verdict{Gate: "smoke", Numbers: map[string]float64{}}
	for i := 1; ; i++ {
		v.Numbers["attempts"] = float64(i)
		status, excerpt, err := h.get(ctx, client, url, timeout)
		v.Numbers["status"] = float64(status)
		switch {
		case err != nil:
			v.Outcome, v.Reason = traffic.Fail, fmt.Sprintf("GET %s: %v", url, err)
		case status != want:
			v.Outcome, v.Reason = traffic.Fail, fmt.Sprintf("GET %s answered %d, want %d; body: %q", url, status, want, excerpt)
		case h.BodyContains != "" && !strings.Contains(excerpt, h.BodyContains):
			v.Outcome, v.Reason = traffic.Fail, fmt.Sprintf("GET %s answered %d but the body lacks %q; body: %q", url, status, h.BodyContains, excerpt)
		default:
			v.Outcome, v.Reason = traffic.Pass, fmt.Sprintf("GET %s answered %d", url, status)
			return v, nil
		}
		if i >= attempts || ctx.Err() != nil {
			return v, nil
		}
		if err := clock.Sleep(ctx, delay); err != nil {
			return v, nil
		}
	}
}

// get fetches url and returns the status and the body (up to 64 KiB, for
// BodyContains) trimmed to an excerpt when it does not match.
func (h HTTPCheck) get(ctx context.Context, client *http.Client, url string, timeout time.Duration) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	for k, vs := range h.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	s := string(body)
	if h.BodyContains != "" && strings.Contains(s, h.BodyContains) {
		return resp.StatusCode, s, nil
	}
	return resp.StatusCode, excerpt(s), nil
}

// excerpt shortens s to about bodyExcerptLen bytes on a rune boundary.
func excerpt(s string) string {
	if len(s) <= bodyExcerptLen {
		return s
	}
	cut := bodyExcerptLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Approver lets a person decide between rollout steps (human approval). The
// CLI maps it to GitHub Environments with required reviewers.
//
// Implementations must be safe for concurrent use.
type Approver interface {
	// Approve answers for the step c describes: Pass to go on, Fail to roll
	// back, Inconclusive to keep waiting (asked again at the gate interval,
	// up to the step's maximum wait, then the rollout pauses).
	Approve(ctx context.Context, c traffic.Check) (traffic.Outcome, error)
}

// AutoApprove is the default Approver: it approves every step at once and
// never blocks.
type AutoApprove struct{}

// Approve returns traffic.Pass.
func (AutoApprove) Approve(context.Context, traffic.Check) (traffic.Outcome, error) {
	return traffic.Pass, nil
}

// approvalGate runs an Approver as a rollout gate.
type approvalGate struct{ a Approver }

func (g approvalGate) Check(ctx context.Context, c traffic.Check) (traffic.Verdict, error) {
	o, err := g.a.Approve(ctx, c)
	v := traffic.Verdict{Gate: "approval", Outcome: o}
	switch o {
	case traffic.Pass:
		v.Reason = fmt.Sprintf("step %d (%d%%) approved", c.Step, c.Percent)
	case traffic.Fail:
		v.Reason = fmt.Sprintf("step %d (%d%%) rejected", c.Step, c.Percent)
	default:
		v.Outcome, v.Reason = traffic.Inconclusive, fmt.Sprintf("awaiting approval of step %d (%d%%)", c.Step, c.Percent)
	}
	return v, err
}
