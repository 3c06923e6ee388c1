//go:build !linux

package publish

import (
	"errors"
	"os"
)

// reflink is Linux's FICLONE; elsewhere the caller copies.
func reflink(dst, src *os.File) error { return errors.ErrUnsupported }
