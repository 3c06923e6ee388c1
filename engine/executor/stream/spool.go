package stream

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
)

// DefaultSpoolLimit is a Spool's limit until SetLimit: 8 GiB.
const DefaultSpoolLimit = 8 << 30

// Spool receives a tar stream that arrives in frames into a temporary
// file, so that it can be checked against the sender's Summary
// (Verify) before anything is unpacked (Reader). It is not safe for
// concurrent use.
type Spool struct {
	f        *os.File
	bw       *bufio.Writer
	h        hash.Hash
	n        int64
	limit    int64
	err      error // the first write error, returned ever after
	verified bool
	closed   bool
}

// NewSpool creates the spool's file in dir (Close removes it).
func NewSpool(dir string) (*Spool, error) {
	f, err := os.CreateTemp(dir, ".stream-*.tar")
	if err != nil {
		return nil, fmt.Errorf("stream: spool: %w", err)
	}
	return &Spool{f: f, bw: bufio.NewWriterSize(f, 256<<10), h: sha256.New(), limit: DefaultSpoolLimit}, nil
}

// SetLimit bounds what the spool takes: a Write that would bring it
// beyond n bytes fails, and writes nothing.
func (s *Spool) SetLimit(n int64) { s.limit = n }

// Write appends p to the spool. After an error, every later Write
// returns it; so does Verify.
func (s *Spool) Write(p []byte) (int, error) {
	switch {
	case s.err != nil:
		return 0, s.err
	case s.closed:
		return 0, errors.New("stream: spool: write after Close")
	case s.verified:
		return 0, errors.New("stream: spool: write after Verify")
	case int64(len(p)) > s.limit-s.n:
		s.err = fmt.Errorf("stream: spool: the stream is larger than the limit of %d bytes", s.limit)
		return 0, s.err
	}
	n, err := s.bw.Write(p)
	s.h.Write(p[:n])
	s.n += int64(n)
	if err != nil {
		s.err = fmt.Errorf("stream: spool: %w", err)
		return n, s.err
	}
	return n, nil
}

// Verify checks the spooled stream against want: its size, then its
// SHA-256 (Entries and Files are not checked: they are known only once
// unpacked). The error says which differs.
func (s *Spool) Verify(want Summary) error {
	if s.err != nil {
		return s.err
	}
	if s.closed {
		return errors.New("stream: spool: Verify after Close")
	}
	if err := s.bw.Flush(); err != nil {
		s.err = fmt.Errorf("stream: spool: %w", err)
		return s.err
	}
	if s.n != want.Bytes {
		return fmt.Errorf("stream: spool: received %d bytes, the sender sent %d", s.n, want.Bytes)
	}
	if got := hex.EncodeToString(s.h.Sum(nil)); got != want.SHA256 {
		return fmt.Errorf("stream: spool: received a stream of SHA-256 %s, the sender sent %s", got, want.SHA256)
	}
	s.verified = true
	return nil
}

// Reader returns the spooled stream from its start; each call a reader
// of its own. Only a verified spool can be read.
func (s *Spool) Reader() (io.Reader, error) {
	if s.closed {
		return nil, errors.New("stream: spool: Reader after Close")
	}
	if !s.verified {
		return nil, errors.New("stream: spool: not verified")
	}
	return io.NewSectionReader(s.f, 0, s.n), nil
}

// Close closes and removes the spool's file.
func (s *Spool) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.f.Close()
	if rerr := os.Remove(s.f.Name()); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("stream: spool: %w", err)
	}
	return nil
}
