//go:build cgo

package sandbox

// builtWithCgo: with cgo, go-landlock applies its restriction to all
// threads through libcap's psx, which hangs in the re-executed helper.
// The helper refuses rather than hang; build with CGO_ENABLED=0.
const builtWithCgo = true
