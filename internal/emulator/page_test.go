package emulator_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage/internal/emulator"
)

func TestPage(t *testing.T) {
	t.Parallel()
	items := make([]int, 250)
	for i := range items {
		items[i] = i
	}
	var got []int
	pages, token := 0, ""
	for {
		page, next, err := emulator.Page(items, 0, token)
		if err != nil {
			t.Fatal(err)
		}
		got, pages = append(got, page...), pages+1
		if next == "" {
			break
		}
		token = next
	}
	if pages != 3 || !cmp.Equal(items, got) {
		t.Errorf("paged %d items in %d pages, want all 250 in 3", len(got), pages)
	}
	if page, _, _ := emulator.Page(items, 5000, ""); len(page) != emulator.MaxPageSize && len(items) > emulator.MaxPageSize {
		t.Errorf("page size not capped")
	}
	for _, tc := range []struct {
		size  int32
		token string
	}{{-1, ""}, {10, "x"}, {10, "-1"}, {10, "251"}} {
		if _, _, err := emulator.Page(items, tc.size, tc.token); status.Code(err) != codes.InvalidArgument {
			t.Errorf("Page(size %d, token %q) err = %v, want INVALID_ARGUMENT", tc.size, tc.token, err)
		}
	}
}
