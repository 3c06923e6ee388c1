package stream

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackSizeChange changes a file between Pack's checks and its read
// (through testHookOpened, so that the race is certain): a file that grows
// or shrinks is an error naming it. Control: the same file, unchanged.
func TestPackSizeChange(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(p string) error
		want   string
	}{
		{"unchanged", func(string) error { return nil }, ""},
		{"grows", func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteString("more")
			return err
		}, "grew beyond 10 bytes"},
		{"shrinks", func(p string) error { return os.Truncate(p, 4) }, "then only 4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := t.TempDir()
			p := filepath.Join(src, "log")
			if err := os.WriteFile(p, []byte("0123456789"), 0o644); err != nil {
				t.Fatal(err)
			}
			testHookOpened = func(opened string) {
				if opened == p {
					if err := c.change(p); err != nil {
						t.Error(err)
					}
				}
			}
			defer func() { testHookOpened = nil }()
			_, err := Pack(io.Discard, []Tree{{Name: "t0", Path: src}}, PackOptions{})
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Pack = %v, want an error naming %s with %q", err, p, c.want)
			}
		})
	}
}
