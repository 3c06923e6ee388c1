// Package layers holds the test that keeps the architecture honest: it
// reads every package's imports with `go list` and checks them against
// the rules of ARCHITECTURE.md ("What may import what"). It has no code
// of its own.
package layers
