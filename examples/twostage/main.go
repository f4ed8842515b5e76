// Command twostage is the reference CLI of the twostage SDK: build once,
// promote by traffic, on Cloud Run and Artifact Registry, from a laptop or
// natively from GitHub Actions. It is built only from the module's public
// packages.
//
//	twostage init                        # writes twostage.yaml and .github/workflows/*.yml
//	twostage dev --image-dir dist        # push to main: build once, dev serves 100%
//	twostage release --tag v1.4.2        # prod revision with 0% and a preview URL
//	twostage promote                     # 5% → 25% → 100% behind the gates
//	twostage rollback                    # 100% back to the previous stable revision
//	twostage status | plan | doctor | wif lint | version
//
// Every command takes --json. Exit codes: 0 ok, 1 failed, 2 usage, 3
// refused by policy, 4 rolled back, 5 rollout paused.
//
// TWOSTAGE_EMULATOR_HOST points every client at the local emulator; see
// README.md for local play without a cloud account.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
