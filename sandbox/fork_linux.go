package sandbox

import (
	"os"
	"syscall"
)

// forkTrue starts /bin/true with the given attributes; used only to probe
// namespace support.
func forkTrue(attr *syscall.SysProcAttr) (int, error) {
	path := "/bin/true"
	if _, err := os.Stat(path); err != nil {
		path = "/usr/bin/true"
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	fd := null.Fd()
	return syscall.ForkExec(path, []string{"true"}, &syscall.ProcAttr{
		Env: []string{}, Sys: attr, Files: []uintptr{fd, fd, fd},
	})
}
