package cloudrunfake_test

import (
	"context"
	"fmt"
	"testing"

	"cloud.google.com/go/run/apiv2/runpb"
)

// BenchmarkUpdateService measures one UpdateService round trip through the
// official client, new revision included, with the operation returned done.
func BenchmarkUpdateService(b *testing.B) {
	e := newEnv(b)
	cur := e.create(b, "web", service("img:0"))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		next := withImage(cur, fmt.Sprintf("img:%d", i+1))
		op, err := e.svcs.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: next})
		if err != nil {
			b.Fatal(err)
		}
		if cur, err = op.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		if i%256 == 255 {
			e.srv.ResetRequests() // keep the request log small
		}
	}
}
