//go:build !unix

package stream

import (
	"os"
	"time"
)

const openFlags = 0

// lchtimes is a no-op where symlink times cannot be set without
// following the link.
func lchtimes(root *os.Root, name string, t time.Time) error { return nil }
