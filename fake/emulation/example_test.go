package emulation_test

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/twostage/twostage/fake/emulation"
	"github.com/twostage/twostage/fake/stsfake"
)

// Every emulator is steered and inspected the same way: InjectError makes
// the next calls of a method fail (here with an exact HTTP answer), and
// Requests and Count tell what the emulator received.
func Example() {
	sts, err := stsfake.NewServer()
	if err != nil {
		panic(err)
	}
	defer sts.Close()

	sts.InjectError(stsfake.MethodToken, &emulation.HTTPError{
		Status: http.StatusServiceUnavailable,
		Body:   map[string]string{"error": "temporarily_unavailable"},
	}, 1)
	for range 2 {
		resp, err := http.Post(sts.TokenURL(), "application/x-www-form-urlencoded", strings.NewReader("grant_type=nonsense"))
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	for _, r := range sts.Requests() {
		fmt.Println(r.Method, r.HTTP, r.Code)
	}
	fmt.Println("token calls:", sts.Count(stsfake.MethodToken))
	// Output:
	// 503 Service Unavailable
	// 400 Bad Request
	// token POST /v1/token Unavailable
	// token POST /v1/token InvalidArgument
	// token calls: 2
}
