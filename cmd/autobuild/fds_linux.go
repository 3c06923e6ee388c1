package main

import (
	"math"

	"golang.org/x/sys/unix"
)

// closeInheritedFDs marks every descriptor above stderr close-on-exec.
func closeInheritedFDs() { _ = unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC) }
