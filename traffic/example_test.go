package traffic_test

import (
	"errors"
	"fmt"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/traffic"
)

// A service deployed the plain way follows LATEST: every new revision gets
// all the traffic as soon as it is ready. Before deploying a release with
// no traffic, pin LATEST to the revision serving now, as
// "gcloud run deploy --no-traffic" does; then the new revision can be
// added at 0% and tagged, so it is reachable only on its tag URL.
func ExamplePin() {
	live := traffic.Split{
		Targets:        []traffic.Target{{Latest: true, Percent: 100, Tag: "stable"}},
		LatestRevision: "api-00001-abc",
	}
	pinned, err := traffic.Pin(live, live.LatestRevision)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(pinned.Targets)

	// Deploying now creates api-00002-def but routes nothing to it.
	staged, err := traffic.SetTag(pinned, "candidate", "api-00002-def")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(staged)

	// A service with no ready revision has nothing to pin to.
	_, err = traffic.Pin(traffic.Split{}, "")
	fmt.Println(errors.Is(err, twostage.ErrInvalid))
	// Output:
	// [{api-00001-abc false 100 stable}]
	// api-00001-abc=100%[stable],api-00002-def=0%[candidate]
	// true
}

// The first step of a canary rollout sends 5% of traffic to the new
// revision. Route sets every share at once; the tags stay where they are.
func ExampleRoute() {
	staged := traffic.Split{Targets: []traffic.Target{
		{Revision: "api-00001-abc", Percent: 100, Tag: "stable"},
		{Revision: "api-00002-def", Percent: 0, Tag: "candidate"},
	}}
	canary, err := traffic.Route(staged, map[string]int{"api-00001-abc": 95, "api-00002-def": 5})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range canary.Targets {
		fmt.Printf("%s %d%% %s\n", t.Revision, t.Percent, t.Tag)
	}

	// Shares must add up to 100.
	_, err = traffic.Route(staged, map[string]int{"api-00001-abc": 95})
	fmt.Println(err)
	// Output:
	// api-00001-abc 95% stable
	// api-00002-def 5% candidate
	// traffic: routing {"api-00001-abc":95}: percents sum to 95, want 100: invalid
}

// Each following step of the rollout moves more points to the candidate.
func ExampleShift() {
	canary := traffic.Split{Targets: []traffic.Target{
		{Revision: "api-00001-abc", Percent: 95, Tag: "stable"},
		{Revision: "api-00002-def", Percent: 5, Tag: "candidate"},
	}}
	next, err := traffic.Shift(canary, "api-00001-abc", "api-00002-def", 20)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(next)
	// Output:
	// api-00001-abc=75%[stable],api-00002-def=25%[candidate]
}

// A breached gate rolls back in one write: all traffic to the stable
// revision, the candidate keeping its tag URL for debugging.
func ExampleRouteAll() {
	canary := traffic.Split{Targets: []traffic.Target{
		{Revision: "api-00001-abc", Percent: 75, Tag: "stable"},
		{Revision: "api-00002-def", Percent: 25, Tag: "candidate"},
	}}
	rolledBack, err := traffic.RouteAll(canary, "api-00001-abc")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rolledBack)
	// Output:
	// api-00001-abc=100%[stable],api-00002-def=0%[candidate]
}

// Once the candidate serves 100%, it becomes the stable revision: the
// stable tag moves to it, the candidate tag is no longer needed, and the
// old revision keeps a "previous" tag URL.
func ExampleSetTag() {
	promoted := traffic.Split{Targets: []traffic.Target{
		{Revision: "api-00001-abc", Percent: 0, Tag: "stable"},
		{Revision: "api-00002-def", Percent: 100, Tag: "candidate"},
	}}
	s := traffic.RemoveTag(promoted, "candidate")
	s, err := traffic.SetTag(s, "stable", "api-00002-def")
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err = traffic.SetTag(s, "previous", "api-00001-abc")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Targets)
	rev, _ := traffic.TagOf(s, "stable")
	fmt.Println("stable is", rev)
	// Output:
	// [{api-00002-def false 100 stable} {api-00001-abc false 0 previous}]
	// stable is api-00002-def
}

// Diff shows a traffic change before it is made, for logs and for the
// person running the release.
func ExampleDiff() {
	live := traffic.Split{Targets: []traffic.Target{{Latest: true, Percent: 100, Tag: "stable"}}, LatestRevision: "api-00001-abc"}
	pinned, err := traffic.Pin(live, live.LatestRevision)
	if err != nil {
		fmt.Println(err)
		return
	}
	staged, err := traffic.SetTag(pinned, "candidate", "api-00002-def")
	if err != nil {
		fmt.Println(err)
		return
	}
	canary, err := traffic.Shift(staged, "api-00001-abc", "api-00002-def", 5)
	if err != nil {
		fmt.Println(err)
		return
	}

	fmt.Println(traffic.Diff(live, staged))
	fmt.Println()
	fmt.Println(traffic.Diff(staged, canary))
	fmt.Println()
	fmt.Println(traffic.Diff(canary, canary))
	// Output:
	// api-00001-abc             0% → 100%  +tag stable (new)
	// api-00002-def             0% → 0%    +tag candidate (new)
	// LATEST (api-00001-abc)  100% → 0%    tag stable removed (gone)
	//
	// api-00001-abc  100% → 95%  stable
	// api-00002-def    0% → 5%   candidate
	//
	// no change
}

func ExampleSplit_String() {
	s := traffic.Split{Targets: []traffic.Target{
		{Revision: "api-00002-def", Percent: 5, Tag: "candidate"},
		{Revision: "api-00001-abc", Percent: 95, Tag: "stable"},
	}}
	fmt.Println(s)
	fmt.Println(traffic.Split{}) // a fresh service
	// Output:
	// api-00001-abc=95%[stable],api-00002-def=5%[candidate]
	// LATEST=100%
}

// Two splits that list their entries differently but route the same way
// are Equal, and Normalize gives them one form.
func ExampleEqual() {
	a := traffic.Split{Targets: []traffic.Target{{Revision: "api-1", Percent: 100, Tag: "stable"}}}
	b := traffic.Split{Targets: []traffic.Target{
		{Revision: "api-1", Percent: 0, Tag: "stable"},
		{Revision: "api-1", Percent: 100},
	}}
	fmt.Println(traffic.Equal(a, b))
	fmt.Println(traffic.Normalize(a).Targets)
	// Output:
	// true
	// [{api-1 false 100 } {api-1 false 0 stable}]
}
