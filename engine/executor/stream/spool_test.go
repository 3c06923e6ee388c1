package stream_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/engine/executor/stream"
)

func summaryOf(b []byte) stream.Summary {
	sum := sha256.Sum256(b)
	return stream.Summary{Bytes: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
}

func newSpool(t *testing.T, data ...string) (*stream.Spool, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := stream.NewSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, d := range data {
		if _, err := s.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	return s, dir
}

func TestSpool(t *testing.T) {
	s, dir := newSpool(t, "hello, ", "world")
	if _, err := s.Reader(); err == nil {
		t.Error("Reader before Verify succeeded")
	}
	if err := s.Verify(summaryOf([]byte("hello, world"))); err != nil {
		t.Fatal(err)
	}
	for range 2 { // each Reader from the start
		r, err := s.Reader()
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := io.ReadAll(r); string(b) != "hello, world" {
			t.Errorf("read %q", b)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("Close left %v", left)
	}
}

func TestSpoolVerifyRefuses(t *testing.T) {
	data := []byte("the stream as sent")
	for _, c := range []struct {
		name, got string
		want      string
	}{
		{"shorter", "the stream as sen", "received 17 bytes, the sender sent 18"},
		{"longer", "the stream as sent!", "received 19 bytes, the sender sent 18"},
		{"changed", "the stream as SENT", "SHA-256"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := newSpool(t, c.got)
			err := s.Verify(summaryOf(data))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Verify = %v, want an error with %q", err, c.want)
			}
			if _, err := s.Reader(); err == nil {
				t.Error("Reader after a failed Verify succeeded")
			}
		})
	}
}

func TestSpoolLimit(t *testing.T) {
	s, _ := newSpool(t)
	s.SetLimit(10)
	if _, err := s.Write([]byte("12345")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("67890")); err != nil { // exactly the limit
		t.Fatalf("control: %v", err)
	}
	if n, err := s.Write([]byte("!")); n != 0 || err == nil || !strings.Contains(err.Error(), "limit of 10 bytes") {
		t.Fatalf("Write beyond the limit: %d, %v", n, err)
	}
	if err := s.Verify(summaryOf([]byte("1234567890"))); err == nil {
		t.Error("Verify after the limit was crossed succeeded")
	}
	// The limit bounds what reaches the disk.
	s2, dir := newSpool(t)
	s2.SetLimit(1 << 10)
	s2.Write(bytes.Repeat([]byte("x"), 1<<20))
	s2.Verify(stream.Summary{})
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, _ := e.Info(); fi.Size() > 1<<10 {
			t.Errorf("%s: %d bytes on disk", e.Name(), fi.Size())
		}
	}
}
