package emulator

import (
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultPageSize is the page size of a List call whose page_size is 0
// (AIP-158 leaves the default to the service; unverified for the real
// Cloud Run and Artifact Registry APIs).
const DefaultPageSize = 100

// MaxPageSize caps page_size (AIP-158: larger values are coerced down).
const MaxPageSize = 1000

// Page returns one page of items after token, and the token of the next
// page ("" on the last), per AIP-158: page_size 0 means DefaultPageSize,
// larger than MaxPageSize means MaxPageSize, negative is INVALID_ARGUMENT,
// as is a token this function did not hand out. Tokens are the offset of
// the next item, opaque to clients; items must be in a stable order.
func Page[T any](items []T, size int32, token string) ([]T, string, error) {
	if size < 0 {
		return nil, "", status.Errorf(codes.InvalidArgument, "page_size %d must not be negative", size)
	}
	if size == 0 {
		size = DefaultPageSize
	}
	size = min(size, MaxPageSize)
	start := 0
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 || n > len(items) {
			return nil, "", status.Errorf(codes.InvalidArgument, "page_token %q is not a token from a previous list call", token)
		}
		start = n
	}
	end := min(start+int(size), len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return items[start:end], next, nil
}
