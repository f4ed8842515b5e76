package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

func TestQuickstart(t *testing.T) {
	for _, backend := range []string{"emulators", "fakes"} {
		t.Run(backend, func(t *testing.T) { testQuickstart(t, backend) })
	}
	if err := run(context.Background(), &bytes.Buffer{}, "cloud"); err == nil {
		t.Error(`run with backend "cloud" succeeded, want an error naming the choices`)
	}
}

func testQuickstart(t *testing.T, backend string) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, backend); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	// The digest computed at build time is the one dev and prod run.
	build := regexp.MustCompile(`build    commit c9f0f89 → image (sha256:[0-9a-f]{12})`).FindStringSubmatch(out.String())
	if build == nil {
		t.Fatalf("timeline lacks the build of c9f0f89:\n%s", out.String())
	}
	for _, want := range []string{
		"api-dev-c9f0f89 (" + build[1] + ") serves 100%",
		"release  v1.0.0 (commit c9f0f89, " + build[1] + ")",
		"api-prod-v1-0-0-c9f0f89          " + build[1] + " ready",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("timeline lacks %q:\n%s", want, out.String())
		}
	}
	for _, want := range []string{
		"dev      commit 8f14e45 → api-dev-8f14e45",
		"release  v1.0.0 (commit c9f0f89",
		"step 3: api-prod-v1-0-0-c9f0f89 succeeded at 100%",
		"gate   sequential fail",
		"ROLLBACK step 1 (5%)",
		"prod: api-prod-v1-0-0-c9f0f89=100%[stable]",
		"settings: dev LOG_LEVEL=debug, prod LOG_LEVEL=info",
		"drift env.LOG_LEVEL: live trace, declared info",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("timeline lacks %q:\n%s", want, out.String())
		}
	}
}

func BenchmarkQuickstart(b *testing.B) {
	for _, backend := range []string{"emulators", "fakes"} {
		b.Run(backend, func(b *testing.B) {
			b.ReportAllocs()
			var out bytes.Buffer
			for b.Loop() {
				out.Reset()
				if err := run(context.Background(), &out, backend); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
