package stream_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/autobuild/autobuild/engine/executor/stream"
)

// frame encodes one frame by hand.
func frame(ch byte, data []byte) []byte {
	b := []byte{ch, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(data)))
	return append(b, data...)
}

type got struct {
	ch   byte
	data string
}

func readAll(b []byte) ([]got, error) {
	var out []got
	err := stream.ReadFrames(bytes.NewReader(b), func(ch byte, data []byte) error {
		out = append(out, got{ch, string(data)})
		return nil
	})
	return out, err
}

func TestFramesEncoding(t *testing.T) {
	var b bytes.Buffer
	mux, err := stream.NewMux(&b)
	if err != nil {
		t.Fatal(err)
	}
	if err := mux.Send(7, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := mux.Send(9, nil); err != nil { // an empty frame
		t.Fatal(err)
	}
	if n, err := mux.Channel(3).Write(nil); n != 0 || err != nil {
		t.Fatalf("an empty Write: %d, %v", n, err)
	}
	want := stream.Magic + "\x07\x00\x00\x00\x05hello" + "\x09\x00\x00\x00\x00"
	if b.String() != want {
		t.Fatalf("stream %q, want %q", b.String(), want)
	}
	frames, err := readAll(b.Bytes())
	if err != nil || len(frames) != 2 || frames[0] != (got{7, "hello"}) || frames[1] != (got{9, ""}) {
		t.Fatalf("read %v, %v", frames, err)
	}
}

func TestFramesSplit(t *testing.T) {
	var b bytes.Buffer
	mux, _ := stream.NewMux(&b)
	data := bytes.Repeat([]byte("0123456789abcdef"), (2*stream.MaxFrame+stream.MaxFrame/2)/16)
	if n, err := mux.Channel(1).Write(data); n != len(data) || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	var sizes []int
	var joined []byte
	err := stream.ReadFrames(&b, func(ch byte, d []byte) error {
		sizes = append(sizes, len(d))
		joined = append(joined, d...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sizes) != fmt.Sprint([]int{stream.MaxFrame, stream.MaxFrame, stream.MaxFrame / 2}) || !bytes.Equal(joined, data) {
		t.Errorf("frames of %v bytes; data equal: %v", sizes, bytes.Equal(joined, data))
	}
	// Send makes one frame only: MaxFrame is sent, one byte more is not.
	if err := mux.Send(1, make([]byte, stream.MaxFrame)); err != nil {
		t.Errorf("Send of MaxFrame bytes: %v", err)
	}
	if err := mux.Send(1, make([]byte, stream.MaxFrame+1)); err == nil {
		t.Error("Send of MaxFrame+1 bytes succeeded")
	}
	if mux.Err() != nil {
		t.Errorf("Err after a refused Send: %v", mux.Err())
	}
}

func TestReadFramesEnds(t *testing.T) {
	var twoFrames = stream.Magic + string(frame(1, []byte("one"))) + string(frame(2, []byte("two")))
	for _, c := range []struct {
		name   string
		stream string
		want   string // "" for a clean end
		frames int    // delivered before the end
	}{
		{"magic only", stream.Magic, "", 0},
		{"clean end after frames", twoFrames, "", 2},
		{"empty", "", "empty stream", 0},
		{"half the magic", stream.Magic[:5], "no magic", 0},
		{"truncated header", twoFrames + "\x01\x00\x00", "truncated frame header: 3 of 5 bytes", 2},
		{"truncated data", twoFrames + string(frame(3, []byte("three"))[:7]), "truncated frame on channel 3: 2 of 5 bytes", 2},
		{"header without data", twoFrames + string(frame(3, []byte("three"))[:5]), "truncated frame on channel 3: 0 of 5", 2},
		{"oversized", stream.Magic + "\x04\x00\x10\x00\x01" + strings.Repeat("x", stream.MaxFrame+1), "more than 1048576", 0},
		{"largest", stream.Magic + string(frame(4, make([]byte, stream.MaxFrame))), "", 1},
		{"length of 4 GiB", stream.Magic + "\x04\xff\xff\xff\xff", "frame of 4294967295 bytes on channel 4", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			frames, err := readAll([]byte(c.stream))
			if len(frames) != c.frames {
				t.Errorf("%d frames delivered, want %d", len(frames), c.frames)
			}
			if c.want == "" {
				if err != nil {
					t.Errorf("ReadFrames = %v, want a clean end", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ReadFrames = %v, want an error with %q", err, c.want)
			}
		})
	}
}

// printable reports whether s holds only printable characters (an error
// message must not carry a terminal's escape sequences or line breaks).
func printable(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

func TestReadFramesJunkBeforeMagic(t *testing.T) {
	banner := "Welcome to node42\n\x1b[31mYou have mail\x1b[0m\n"
	_, err := readAll([]byte(banner + stream.Magic + string(frame(1, []byte("x")))))
	if err == nil || !strings.Contains(err.Error(), `"Welcome to node42\n\x1b[31mYou have mail\x1b[0m\n"`) ||
		!strings.Contains(err.Error(), fmt.Sprintf("%d bytes before the magic", len(banner))) {
		t.Errorf("ReadFrames = %v, want an error quoting the banner", err)
	}
	if err != nil && !printable(err.Error()) {
		t.Errorf("error %q is not printable", err)
	}

	// A long stream that never shows the magic: the error quotes its
	// start, bounded, and ReadFrames reads a bounded prefix only.
	junk := &countingReader{r: strings.NewReader(strings.Repeat("\x00garbage\r\n", 100_000))}
	err = stream.ReadFrames(junk, func(byte, []byte) error { return errors.New("no frame expected") })
	if err == nil || !strings.Contains(err.Error(), `the stream begins "\x00garbage\r\n`) {
		t.Fatalf("ReadFrames = %v, want an error quoting the start", err)
	}
	if len(err.Error()) > 2000 || !printable(err.Error()) {
		t.Errorf("error of %d bytes, printable %v: %.300q", len(err.Error()), printable(err.Error()), err)
	}
	if junk.n > 128<<10 {
		t.Errorf("read %d bytes looking for the magic", junk.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReadFramesStopsOnFnError(t *testing.T) {
	stop := errors.New("stop here")
	var seen []byte
	err := stream.ReadFrames(bytes.NewReader([]byte(stream.Magic+string(frame(1, nil))+string(frame(2, nil))+string(frame(3, nil)))),
		func(ch byte, _ []byte) error {
			seen = append(seen, ch)
			if ch == 2 {
				return stop
			}
			return nil
		})
	if err != stop || string(seen) != "\x01\x02" {
		t.Errorf("ReadFrames = %v after channels %v, want %v after 1 and 2", err, seen, stop)
	}
}

// TestMuxConcurrent has writers on several channels at once, each write of
// a size of its own (some over MaxFrame) and content that says which
// channel and which write it belongs to: each channel must read back
// exactly what its writer wrote, so no frame holds another's bytes.
func TestMuxConcurrent(t *testing.T) {
	pr, pw := io.Pipe()
	const writers, writes = 8, 40
	content := func(ch, i int) []byte {
		size := (i*7919 + ch*104729) % (stream.MaxFrame / 4)
		if i%13 == 0 {
			size += stream.MaxFrame + 1
		}
		return bytes.Repeat([]byte{byte(ch*writes + i)}, size)
	}
	go func() {
		mux, err := stream.NewMux(pw)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		var wg sync.WaitGroup
		for ch := range writers {
			wg.Go(func() {
				for i := range writes {
					mux.Channel(byte(ch)).Write(content(ch, i))
				}
			})
		}
		wg.Wait()
		pw.CloseWithError(mux.Err())
	}()
	var got [writers]bytes.Buffer
	frames := 0
	err := stream.ReadFrames(pr, func(ch byte, data []byte) error {
		frames++
		got[ch].Write(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for ch := range writers {
		var want bytes.Buffer
		for i := range writes {
			want.Write(content(ch, i))
		}
		if !bytes.Equal(got[ch].Bytes(), want.Bytes()) {
			t.Errorf("channel %d: %d bytes differ from the %d written", ch, got[ch].Len(), want.Len())
		}
	}
	t.Logf("%d frames", frames)
}

// failAfter takes n bytes, then fails.
type failAfter struct{ n int }

var errBroken = errors.New("broken pipe")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k := f.n
		f.n = 0
		return k, errBroken
	}
	f.n -= len(p)
	return len(p), nil
}

func TestMuxWriteError(t *testing.T) {
	if _, err := stream.NewMux(&failAfter{n: 3}); !errors.Is(err, errBroken) {
		t.Errorf("NewMux on a broken writer: %v", err)
	}
	w := &failAfter{n: len(stream.Magic) + 5 + 10 + 3}
	mux, err := stream.NewMux(w)
	if err != nil {
		t.Fatal(err)
	}
	if err := mux.Send(1, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if mux.Err() != nil {
		t.Fatalf("Err before any failure: %v", mux.Err())
	}
	if _, err := mux.Channel(1).Write(make([]byte, 10)); !errors.Is(err, errBroken) {
		t.Fatalf("Write on a broken writer: %v", err)
	}
	first := mux.Err()
	if !errors.Is(first, errBroken) {
		t.Fatalf("Err = %v", first)
	}
	w.n = 1 << 20 // even if the writer works again, the stream is broken
	if err := mux.Send(2, []byte("x")); err != first || mux.Err() != first {
		t.Errorf("Send after the failure: %v, Err %v; want the first error", err, mux.Err())
	}
}
