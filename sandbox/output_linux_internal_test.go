package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func numbered(n int) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.Bytes()
}

// feed writes in to a capped writer in chunks of the given size and
// returns what the writer got and the count of bytes dropped.
func feed(in []byte, limit int64, chunk int) ([]byte, int64) {
	var out bytes.Buffer
	c := newCapped(&out, limit)
	for len(in) > 0 {
		n := min(chunk, len(in))
		c.Write(in[:n])
		in = in[n:]
	}
	dropped := c.finish()
	return out.Bytes(), dropped
}

// The limited copy: whatever the pipe's chunks, the writer gets the first
// limit-tailSize bytes, the truncation line and the end from a line's
// start; an output within the limit passes whole.
func TestCapped(t *testing.T) {
	in := numbered(20000) // 208 KB
	const limit = 64 << 10
	head := limit - tailSize(limit)
	var ref []byte
	for _, chunk := range []int{1, 7, 4096, 65536, len(in)} {
		got, dropped := feed(in, limit, chunk)
		if ref == nil {
			ref = got
		} else if !bytes.Equal(got, ref) {
			t.Errorf("chunks of %d: the output differs from chunks of 1", chunk)
		}
		line := marker(in[head-1], limit, dropped)
		if !bytes.Equal(got[:head], in[:head]) || !bytes.HasPrefix(got[head:], line) {
			t.Fatalf("chunks of %d: not the first %d bytes then %q: %.80q", chunk, head, line, got[head:])
		}
		tail := got[head+int64(len(line)):]
		if !bytes.HasSuffix(in, tail) || !bytes.HasPrefix(tail, []byte("line ")) || int64(len(tail)) > tailSize(limit) {
			t.Errorf("chunks of %d: the end kept is not the output's, from a line's start: %.40q", chunk, tail)
		}
		if dropped != int64(len(in)-int(head)-len(tail)) {
			t.Errorf("chunks of %d: %d dropped, want %d", chunk, dropped, len(in)-int(head)-len(tail))
		}
	}
	for _, n := range []int{0, 1, limit - 1, limit} {
		small := bytes.Repeat([]byte("y"), n)
		if got, dropped := feed(small, limit, 1000); !bytes.Equal(got, small) || dropped != 0 {
			t.Errorf("%d bytes within the limit: got %d bytes back, %d dropped", n, len(got), dropped)
		}
	}
	if got, dropped := feed(in, 0, 4096); !bytes.Equal(got, in) || dropped != 0 {
		t.Errorf("no limit: got %d of %d bytes, %d dropped", len(got), len(in), dropped)
	}
}

type failing struct{ after int }

func (f *failing) Write(p []byte) (int, error) {
	if len(p) <= f.after {
		f.after -= len(p)
		return len(p), nil
	}
	n := f.after
	f.after = 0
	return n, errors.New("disk full")
}

// A writer that fails never fails the step's side: every Write succeeds,
// and what the writer did not take is counted.
func TestCappedFailingWriter(t *testing.T) {
	c := newCapped(&failing{after: 1000}, 0)
	for range 10 {
		if n, err := c.Write(make([]byte, 300)); n != 300 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if lost := c.finish(); lost != 2000 {
		t.Errorf("lost %d bytes, want 2000", lost)
	}
}

// Cutting a file the step wrote itself gives exactly what the limited
// pipe gives, after what the file held before, which stays.
func TestTrimFileMatchesPipe(t *testing.T) {
	const limit = 64 << 10
	for _, n := range []int{100, 6700, 20000} { // within, just over, far over
		in := numbered(n)
		want, wantDropped := feed(in, limit, 4096)
		path := filepath.Join(t.TempDir(), "log")
		if err := os.WriteFile(path, []byte("before\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(in)
		dropped, err := trimFile(f, int64(len("before\n")), limit)
		f.Write([]byte("after\n")) // the log goes on
		f.Close()
		got, _ := os.ReadFile(path)
		if err != nil || dropped != wantDropped || !bytes.Equal(got, append(append([]byte("before\n"), want...), "after\n"...)) {
			t.Errorf("%d lines: trimFile = %d, %v; the file differs from the pipe's output (%d bytes, want %d)", n, dropped, err, len(got), len(want)+13)
		}
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{512: "512 bytes", 1 << 10: "1 KiB", 64 << 20: "64 MiB", 3 << 29: "1.5 GiB", 1 << 30: "1 GiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
