//go:build !race

package hostile

// raceFactor widens the allocation limits under the race detector; 1
// without it.
const raceFactor = 1
