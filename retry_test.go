package twostage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twostage/twostage"
)

func TestIsTemporary(t *testing.T) {
	t.Parallel()
	blip := errors.New("blip")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", blip, false},
		{"marked", twostage.MarkTemporary(blip), true},
		{"wrapped mark", fmt.Errorf("reading: %w", twostage.MarkTemporary(blip)), true},
		{"caller cancelled", twostage.MarkTemporary(context.Canceled), false},
		{"caller deadline", fmt.Errorf("x: %w", twostage.MarkTemporary(context.DeadlineExceeded)), false},
		{"conflict", twostage.MarkTemporary(twostage.ErrConflict), false},
	}
	for _, tt := range tests {
		if got := twostage.IsTemporary(tt.err); got != tt.want {
			t.Errorf("%s: IsTemporary(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
	if twostage.MarkTemporary(nil) != nil {
		t.Error("MarkTemporary(nil) != nil")
	}
	if err := twostage.MarkTemporary(blip); !errors.Is(err, blip) {
		t.Errorf("MarkTemporary(blip) = %v, does not match blip", err)
	}
}

func TestRetryOr(t *testing.T) {
	t.Parallel()
	def := twostage.Retry{Attempts: 5, Initial: time.Second, Max: time.Minute}
	if got := (twostage.Retry{}).Or(def); got != def {
		t.Errorf("zero.Or(def) = %+v, want %+v", got, def)
	}
	mine := twostage.Retry{Attempts: 1, Initial: time.Millisecond, Max: time.Second}
	if got := mine.Or(def); got != mine {
		t.Errorf("set.Or(def) = %+v, want %+v", got, mine)
	}
}
