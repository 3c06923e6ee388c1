//go:build !linux

package publish

import "os"

// linkLog needs Linux's leases and linkat; elsewhere logs are copied.
func linkLog(src *os.File, dirfd int, name string, writersOK bool) error {
	return notSharedf("not supported on this system")
}
