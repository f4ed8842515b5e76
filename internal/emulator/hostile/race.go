//go:build race

package hostile

// raceFactor widens the allocation limits under the race detector, whose
// instrumentation allocates besides the code under test.
const raceFactor = 3
