package logtail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Only the end of a large log is read, and what is returned is printable.
func TestLastIsBoundedAndPrintable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	body := strings.Repeat("x", 10*Window) + "\nfirst\n\x1b[2Jclear\tt\xff\n" + strings.Repeat("y", 2*MaxLine) + "\nlast\r\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Last(p, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`\x1b[2Jclear    t?`, strings.Repeat("y", MaxLine) + "…", "last"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Last = %q, want %q", got, want)
	}
	if all, _ := Last(p, 100); len(all) > Window/MaxLine+4 || strings.HasPrefix(all[0], "first") {
		t.Errorf("read beyond the window: %d lines, first %.20q", len(all), all[0])
	}
}
