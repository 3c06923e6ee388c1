package stream

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// Magic begins every stream: NewMux writes it, ReadFrames checks it.
const Magic = "AUTOBUILD-STREAM 1\n"

// MaxFrame bounds a frame's data; a Channel splits bigger writes.
const MaxFrame = 1 << 20

// headerLen is a frame header's size: the channel, then the length.
const headerLen = 5

// junkLimit bounds what ReadFrames reads looking for the magic after
// something else, and junkShown what its error quotes of it.
const (
	junkLimit = 4096
	junkShown = 256
)

// Mux writes frames of several channels onto one stream. It is safe for
// concurrent use: each frame is written whole under a lock. After a write
// fails the stream is broken (perhaps inside a frame): every later write
// returns that first error without writing.
type Mux struct {
	mu  sync.Mutex
	w   io.Writer
	err error
	hdr [headerLen]byte
}

// NewMux writes Magic to w and returns a Mux writing frames to it.
func NewMux(w io.Writer) (*Mux, error) {
	if _, err := io.WriteString(w, Magic); err != nil {
		return nil, fmt.Errorf("stream: writing the magic: %w", err)
	}
	return &Mux{w: w}, nil
}

// Send writes data as one frame of channel ch (an empty frame when data
// is empty). Data longer than MaxFrame is an error, and nothing is
// written.
func (m *Mux) Send(ch byte, data []byte) error {
	if len(data) > MaxFrame {
		return fmt.Errorf("stream: a frame of %d bytes on channel %d: more than %d", len(data), ch, MaxFrame)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.hdr[0] = ch
	binary.BigEndian.PutUint32(m.hdr[1:], uint32(len(data)))
	if _, err := m.w.Write(m.hdr[:]); err != nil {
		m.err = fmt.Errorf("stream: writing a frame of channel %d: %w", ch, err)
		return m.err
	}
	if len(data) > 0 {
		if _, err := m.w.Write(data); err != nil {
			m.err = fmt.Errorf("stream: writing a frame of channel %d: %w", ch, err)
			return m.err
		}
	}
	return nil
}

// Err returns the first write error, or nil.
func (m *Mux) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Channel returns a writer of channel ch: each Write becomes one frame,
// or several in order when it is longer than MaxFrame; a zero-length
// Write writes nothing. Frames of other channels may come between the
// frames of one long Write.
func (m *Mux) Channel(ch byte) io.Writer {
	return channel{m: m, ch: ch}
}

type channel struct {
	m  *Mux
	ch byte
}

func (c channel) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := min(len(p)-n, MaxFrame)
		if err := c.m.Send(c.ch, p[n:n+k]); err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// ReadFrames reads a stream: Magic, then frames until the end of r,
// calling fn with each frame's channel and data, in order. The data is
// fn's to keep. It returns nil at an end between frames; an end inside
// a frame, a frame longer than MaxFrame, anything before the magic, or
// fn's error (returned as it is) stop it.
func ReadFrames(r io.Reader, fn func(ch byte, data []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if err := readMagic(br); err != nil {
		return err
	}
	var hdr [headerLen]byte
	for {
		n, err := io.ReadFull(br, hdr[:])
		if err == io.EOF {
			return nil
		}
		if err == io.ErrUnexpectedEOF {
			return fmt.Errorf("stream: truncated frame header: %d of %d bytes", n, headerLen)
		}
		if err != nil {
			return fmt.Errorf("stream: reading a frame: %w", err)
		}
		ch := hdr[0]
		size := binary.BigEndian.Uint32(hdr[1:])
		if size > MaxFrame {
			return fmt.Errorf("stream: frame of %d bytes on channel %d: more than %d", size, ch, MaxFrame)
		}
		data := make([]byte, size)
		n, err = io.ReadFull(br, data)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fmt.Errorf("stream: truncated frame on channel %d: %d of %d bytes", ch, n, size)
		}
		if err != nil {
			return fmt.Errorf("stream: reading a frame of channel %d: %w", ch, err)
		}
		if err := fn(ch, data); err != nil {
			return err
		}
	}
}

// readMagic reads Magic from the start of br. When something else comes
// first, it reads on (at most junkLimit bytes, stopping as soon as the
// magic shows) so that its error can quote what came instead.
func readMagic(br *bufio.Reader) error {
	got := make([]byte, len(Magic))
	n, err := io.ReadFull(br, got)
	if err == nil && string(got) == Magic {
		return nil
	}
	got = got[:n]
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return fmt.Errorf("stream: reading the magic: %w", err)
	}
	if n == 0 {
		return errors.New("stream: empty stream: no magic")
	}
	for err == nil && len(got) < junkLimit+len(Magic) && !bytes.HasSuffix(got, []byte(Magic)) {
		var b byte
		if b, err = br.ReadByte(); err == nil {
			got = append(got, b)
		}
	}
	if junk, ok := bytes.CutSuffix(got, []byte(Magic)); ok {
		return fmt.Errorf("stream: %d bytes before the magic: %s", len(junk), quote(junk))
	}
	return fmt.Errorf("stream: no magic %q at the start: the stream begins %s", Magic, quote(got))
}

// quote shows b escaped (printable, one line), at most junkShown bytes of
// it.
func quote(b []byte) string {
	if len(b) <= junkShown {
		return strconv.Quote(string(b))
	}
	return strconv.Quote(string(b[:junkShown])) + fmt.Sprintf(" (and %d bytes more)", len(b)-junkShown)
}
