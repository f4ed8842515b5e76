package emulator

import (
	"errors"
	"net/http"
)

// MaxBodyBytes is the largest request body the HTTP emulators read: 10 MiB
// (10485760 bytes), the limit Google's API front ends were seen enforcing
// on JSON requests ("Request payload size exceeds the limit: 10485760
// bytes.", googleworkspace/dotnet-samples issue #23; BigQuery documents "The
// request size can be up to 10 MB", quoted in googleapis/google-cloud-ruby
// PR #31568). Per-API limits differ and are unverified.
const MaxBodyBytes = 10 << 20

// LimitBody refuses a request whose declared body is over n bytes with
// [WriteTooLarge] and reports false; otherwise it makes reading more than n
// bytes of the body fail (see [TooLarge]) and reports true.
func LimitBody(w http.ResponseWriter, r *http.Request, n int64) bool {
	if r.ContentLength > n {
		WriteTooLarge(w)
		return false
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, n)
	}
	return true
}

// TooLarge reports whether err comes from reading past the limit of
// [LimitBody].
func TooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

// WriteTooLarge answers 413 as Google's front end does for an oversized
// request: an HTML page titled "Error 413 (Request Entity Too Large)!!1"
// saying "Your client issued a request that was too large." (the page
// quoted in googleapis/google-cloud-ruby PR #31568 and
// noitcudni/google-search-console-bulk-url-removal issue #16), and it
// closes the connection so the rest of the body is not read.
func WriteTooLarge(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	_, _ = w.Write([]byte(tooLargePage)) // the client went away: nothing to do
}

const tooLargePage = `<!DOCTYPE html>
<html lang=en>
  <meta charset=utf-8>
  <title>Error 413 (Request Entity Too Large)!!1</title>
  <p><b>413.</b> <ins>That’s an error.</ins>
  <p>Your client issued a request that was too large.  <ins>That’s all we know.</ins>
`
