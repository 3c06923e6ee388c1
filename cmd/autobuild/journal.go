package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/autobuild/autobuild/engine/runlock"
)

// Under systemd, stderr is often a stream to the journal, which takes a
// line starting "<N>" as a message of syslog priority N (sd-daemon(3)).
// The journal says so by JOURNAL_STREAM ("device:inode" of that stream):
// when stderr is that very stream (not a file or pipe a child of the
// service was redirected to), every structured log line and the final
// error line carry their priority, so `journalctl -p err` finds failures,
// and an error the command keeps quiet for cron (modules that failed, said
// in the run's report on stdout) is said on stderr too. Anywhere else the
// output is unchanged.

// toJournal reports whether w is a stream to the journal.
func toJournal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	dev, ino, ok := strings.Cut(os.Getenv("JOURNAL_STREAM"), ":")
	if !ok {
		return false
	}
	d, err1 := strconv.ParseUint(dev, 10, 64)
	i, err2 := strconv.ParseUint(ino, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	info, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) == d && uint64(st.Ino) == i
}

// journalPriority is the syslog priority prefix of a log level.
func journalPriority(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "<3>"
	case l >= slog.LevelWarn:
		return "<4>"
	case l >= slog.LevelInfo:
		return "<6>"
	}
	return "<7>"
}

// withPriority puts prefix before every line of p.
func withPriority(prefix string, p []byte) []byte {
	var b bytes.Buffer
	for len(p) > 0 {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line = p[:i+1]
		}
		b.WriteString(prefix)
		b.Write(line)
		p = p[len(line):]
	}
	return b.Bytes()
}

// errorLevel is the level of the error a command ended with: a run kept
// out by another one's lock is a warning, anything else an error.
func errorLevel(err error) slog.Level {
	if errors.Is(err, runlock.ErrLocked) {
		return slog.LevelWarn
	}
	return slog.LevelError
}

// journalText is text as written to w at level l: with the priority on
// each line when w is the journal.
func journalText(w io.Writer, l slog.Level, text string) string {
	if !toJournal(w) {
		return text
	}
	return string(withPriority(journalPriority(l), []byte(text)))
}

// logHandler returns the structured log handler that newHandler makes
// over w, each record's lines prefixed with their priority when w is the
// journal.
func logHandler(w io.Writer, newHandler func(io.Writer) slog.Handler) slog.Handler {
	if !toJournal(w) {
		return newHandler(w)
	}
	out := &priorityWriter{w: w}
	return &journalHandler{inner: newHandler(out), out: out}
}

// journalHandler sets the priority of each record before its inner
// handler writes it. The handlers derived from one (WithAttrs, WithGroup)
// share its writer and lock: slog's handlers write a record in one Write.
type journalHandler struct {
	inner slog.Handler
	out   *priorityWriter
}

type priorityWriter struct {
	mu     sync.Mutex // held by Handle around the inner handler's Write
	w      io.Writer
	prefix string
}

func (w *priorityWriter) Write(p []byte) (int, error) {
	if _, err := w.w.Write(withPriority(w.prefix, p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.prefix = journalPriority(r.Level)
	return h.inner.Handle(ctx, r)
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &journalHandler{inner: h.inner.WithAttrs(as), out: h.out}
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	return &journalHandler{inner: h.inner.WithGroup(name), out: h.out}
}
