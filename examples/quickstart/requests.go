package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twostage/twostage/fake"
)

// app is the service's code: it answers 200, except that every failEvery-th
// request fails with 500 (never when failEvery is 0). The Cloud Run
// emulator runs it for the revisions of its image.
type app struct {
	version   string
	failEvery int64
	n         atomic.Int64
}

func (a *app) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	if n := a.n.Add(1); a.failEvery > 0 && n%a.failEvery == 0 {
		http.Error(w, a.version+": internal error", http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "hello from %s\n", a.version)
}

// requests are the service's users on simulated time: whenever the clock
// moves, each simulated second since the last move gets perSecond real
// HTTP requests to the service URL, sent with the clock set to that second,
// so the Cloud Monitoring emulator counts them in the right minute. The
// data plane routes each by the traffic split of the moment.
type requests struct {
	clock     *fake.Clock
	client    *http.Client
	url       func() string // the service URL; "" before it exists
	perSecond int

	mu     sync.Mutex // guards last and counts
	last   time.Time
	counts map[int]int64 // answers by status code
}

func newRequests(clock *fake.Clock, client *http.Client, url func() string, perSecond int) *requests {
	return &requests{clock: clock, client: client, url: url, perSecond: perSecond, last: clock.Now(), counts: map[int]int64{}}
}

// advance sends the requests of the simulated seconds in (last, now]. It
// runs in the sleeping goroutine (fake.Clock.OnSleep), so nothing else
// reads the clock while it sets it back to each second.
func (q *requests) advance(now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	url := q.url()
	if url == "" {
		q.last = now
		return
	}
	for t := q.last.Truncate(time.Second).Add(time.Second); !t.After(now); t = t.Add(time.Second) {
		q.clock.Set(t)
		for range q.perSecond {
			q.send(url)
		}
	}
	q.clock.Set(now)
	q.last = now
}

func (q *requests) send(url string) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		q.counts[0]++
		return
	}
	resp, err := q.client.Do(req)
	if err != nil {
		q.counts[0]++
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	q.counts[resp.StatusCode]++
}

// answers returns the answers so far by status code (0: no answer).
func (q *requests) answers() map[int]int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make(map[int]int64, len(q.counts))
	for k, v := range q.counts {
		out[k] = v
	}
	return out
}
