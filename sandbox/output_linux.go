package sandbox

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/opencontainers/selinux/go-selinux"
)

// This file is how a step's output reaches its writers (Step.Stdout,
// Step.Stderr) and how Step.OutputLimit bounds it.
//
// With a limit, the output goes through a pipe the engine reads: the
// child never writes the log file itself, so its file size limit
// (RLIMIT_FSIZE) never hits the log, and the engine decides what is kept.
// The copy streams: the first part is written as it comes, the output's
// last part is kept in a ring of at most 1 MiB, and what lies between is
// counted and dropped. Memory stays flat whatever the step writes.
//
// One case cannot use the pipe: on an SELinux host, a step that starts in
// a domain of its own may write only the pipes of the engine's domain
// autobuild_t at s0 (the policy's rule; a pipe of any other domain, such
// as root's shell's unconfined_t, is closed at the step's exec). An
// engine outside it hands a file writer to the step directly, as without
// a limit, and cuts what the step appended down to the limit when the
// step is gone (the same first part, line and last part).

// outputs gives a child files for its output: a writer that is a file
// itself (without a limit), or the write end of a pipe that a goroutine
// copies into the writer.
type outputs struct {
	// limit is Step.OutputLimit; direct: the step cannot write our pipes
	// (see above).
	limit  int64
	direct bool

	ends      []*os.File // the child's ends, closed in the parent after start
	reads     []*os.File // our ends
	waits     []chan int64
	trims     []trim // files the child writes itself, cut to the limit after
	discarded int64  // once wait returned
}

// trim is a file given to the child directly, and its size before.
type trim struct {
	f     *os.File
	start int64
}

func (o *outputs) file(w io.Writer) (*os.File, error) {
	if w == nil {
		return nil, nil
	}
	if f, ok := w.(*os.File); ok && (o.limit <= 0 || o.direct) {
		if o.limit > 0 {
			if info, err := f.Stat(); err == nil && info.Mode().IsRegular() {
				o.trims = append(o.trims, trim{f: f, start: info.Size()})
			}
		}
		return f, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox: output pipe: %w", err)
	}
	done := make(chan int64, 1)
	go func() {
		c := newCapped(w, o.limit)
		// capped never fails a write: the copy ends at EOF, or when wait
		// closes our end.
		_, _ = io.Copy(c, pr)
		done <- c.finish()
	}()
	o.ends = append(o.ends, pw)
	o.reads = append(o.reads, pr)
	o.waits = append(o.waits, done)
	return pw, nil
}

// started closes the parent's copies of the child's ends.
func (o *outputs) started() {
	for _, f := range o.ends {
		f.Close()
	}
	o.ends = nil
}

// wait waits for the copies to finish (every writer has closed), but not
// longer than outputGrace: a process that escaped the step's process
// group (possible only unconfined) may hold a pipe open for ever. Then it
// cuts the files the child wrote itself down to the limit.
func (o *outputs) wait() {
	o.started()
	timer := time.NewTimer(outputGrace)
	defer timer.Stop()
	expired := false
	for i, d := range o.waits {
		if !expired {
			select {
			case n := <-d:
				o.reads[i].Close()
				o.discarded += n
				continue
			case <-timer.C:
				expired = true
			}
		}
		o.reads[i].Close() // unblocks the copy
		o.discarded += <-d
	}
	o.waits = nil
	for _, t := range o.trims {
		// A file that cannot be cut stays whole: nothing is lost.
		n, _ := trimFile(t.f, t.start, o.limit)
		o.discarded += n
	}
	o.trims = nil
}

// outputGrace bounds how long output may trail the step's exit.
const outputGrace = 5 * time.Second

// tailSize is how much of the end of an output over limit is kept: a
// quarter of the limit, at most 1 MiB (a build's last lines say why it
// failed).
func tailSize(limit int64) int64 { return min(limit/4, 1<<20) }

// lineSearch bounds the search for the first line break of the kept end,
// so that it starts with a whole line.
const lineSearch = 4096

// capped is the writer of a limited output: it passes the first part
// through, keeps the last tailSize bytes in a ring, and counts the rest.
// Its Write never fails, so the step never blocks on it: a writer that
// fails has the rest of the output counted as lost.
type capped struct {
	w      io.Writer
	head   int64 // bytes passed through before the ring (unbounded: -1)
	size   int64 // the ring's size
	limit  int64
	passed int64
	last   byte // the last byte passed through
	err    error
	lost   int64

	ring   []byte
	pos    int  // next write in ring; the oldest byte once full
	full   bool // the ring wrapped
	beyond int64
}

func newCapped(w io.Writer, limit int64) *capped {
	if limit <= 0 {
		return &capped{w: w, head: -1}
	}
	size := tailSize(limit)
	return &capped{w: w, head: limit - size, size: size, limit: limit}
}

func (c *capped) Write(p []byte) (int, error) {
	n := len(p)
	if c.head < 0 || c.passed < c.head {
		k := len(p)
		if c.head >= 0 {
			k = int(min(int64(k), c.head-c.passed))
		}
		c.out(p[:k])
		c.passed += int64(k)
		p = p[k:]
	}
	if len(p) > 0 {
		c.keep(p)
	}
	return n, nil
}

// out writes to the writer, or counts b as lost once it failed.
func (c *capped) out(b []byte) {
	if len(b) == 0 {
		return
	}
	if c.err == nil {
		var n int
		n, c.err = c.w.Write(b)
		if c.err == nil && n < len(b) {
			c.err = io.ErrShortWrite
		}
		if c.err == nil {
			c.last = b[len(b)-1]
			return
		}
		b = b[n:]
	}
	c.lost += int64(len(b))
}

// keep puts p into the ring.
func (c *capped) keep(p []byte) {
	c.beyond += int64(len(p))
	if c.size == 0 {
		return
	}
	if c.ring == nil {
		c.ring = make([]byte, c.size)
	}
	if len(p) >= len(c.ring) {
		copy(c.ring, p[len(p)-len(c.ring):])
		c.pos, c.full = 0, true
		return
	}
	if c.pos+len(p) >= len(c.ring) {
		c.full = true
	}
	k := copy(c.ring[c.pos:], p)
	copy(c.ring, p[k:])
	c.pos = (c.pos + len(p)) % len(c.ring)
}

// finish writes what the ring holds, after the truncation line when some
// output was dropped, and returns how many bytes did not reach the writer.
func (c *capped) finish() int64 {
	if c.beyond == 0 {
		return c.lost
	}
	tail := c.ring[:c.pos]
	if c.full {
		tail = append(c.ring[c.pos:len(c.ring):len(c.ring)], c.ring[:c.pos]...)
	}
	dropped := c.beyond - int64(len(tail))
	if dropped > 0 {
		var skip int
		tail, skip = fromLine(tail)
		dropped += int64(skip)
		c.out(marker(c.last, c.limit, dropped))
	}
	c.out(tail)
	return dropped + c.lost
}

// fromLine cuts b after its first line break, when one is near its start:
// the kept end of an output then starts with a whole line.
func fromLine(b []byte) ([]byte, int) {
	if i := bytes.IndexByte(b[:min(len(b), lineSearch)], '\n'); i >= 0 && i+1 < len(b) {
		return b[i+1:], i + 1
	}
	return b, 0
}

// marker is the line that takes the place of the dropped output. last is
// the byte before it: the line starts a line of its own.
func marker(last byte, limit, dropped int64) []byte {
	nl := ""
	if last != '\n' && last != 0 {
		nl = "\n"
	}
	return fmt.Appendf(nil, "%sautobuild: log truncated: output beyond the log limit of %s discarded (%d bytes); the end of the output follows\n",
		nl, Size(limit), dropped)
}

// trimFile cuts what was appended to f since it was start bytes long down
// to limit bytes: the first part, the truncation line and the last part,
// as a limited pipe would have written. It returns the bytes dropped.
// The file is opened once more for reading and writing (f may be
// append-only); the end is read before anything is written, and at most
// tailSize bytes of it are held in memory.
func trimFile(f *os.File, start, limit int64) (int64, error) {
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		return 0, err
	}
	end := info.Size()
	if end-start <= limit || limit <= 0 {
		return 0, nil
	}
	rw, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer rw.Close()
	size := tailSize(limit)
	head := limit - size
	tail := make([]byte, size)
	if _, err := rw.ReadAt(tail, end-size); err != nil {
		return 0, err
	}
	var last [1]byte
	if head > 0 {
		if _, err := rw.ReadAt(last[:], start+head-1); err != nil {
			return 0, err
		}
	}
	dropped := end - start - limit
	tail, skip := fromLine(tail)
	dropped += int64(skip)
	m := marker(last[0], limit, dropped)
	at := start + head
	if _, err := rw.WriteAt(append(m, tail...), at); err != nil {
		return 0, err
	}
	return dropped, rw.Truncate(at + int64(len(m)+len(tail)))
}

var enginePipes struct {
	once sync.Once
	ok   bool
}

// stepWritesEnginePipes reports whether a step that starts in an SELinux
// domain of its own can write the pipes this engine makes: only when the
// engine runs in autobuild_t at s0 (as EnterEngineDomain and the policy's
// transitions put it).
func stepWritesEnginePipes() bool {
	enginePipes.once.Do(func() {
		cur, err := selinux.CurrentLabel()
		if err != nil {
			return
		}
		ctx, err := selinux.NewContext(cur)
		if err != nil {
			return
		}
		enginePipes.ok = ctx["type"] == EngineType && ctx["level"] == "s0"
	})
	return enginePipes.ok
}
