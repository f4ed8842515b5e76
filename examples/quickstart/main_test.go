package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"dev      commit 8f14e45 → api-dev-8f14e45",
		"release  v1.0.0 (commit c9f0f89",
		"step 3: api-prod-v1-0-0-c9f0f89 succeeded at 100%",
		"gate   error-rate FAIL",
		"ROLLBACK step 1 (5%)",
		"prod: api-prod-v1-0-0-c9f0f89=100%[stable]",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("timeline lacks %q:\n%s", want, out.String())
		}
	}
}

func BenchmarkQuickstart(b *testing.B) {
	b.ReportAllocs()
	var out bytes.Buffer
	for b.Loop() {
		out.Reset()
		if err := run(context.Background(), &out); err != nil {
			b.Fatal(err)
		}
	}
}
