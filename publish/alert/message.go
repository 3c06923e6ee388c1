package alert

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/wneessen/go-mail"

	"github.com/autobuild/autobuild/publish/logtail"
)

// Message is one alert made into a mail, ready for a Transport.
type Message struct {
	Alert Alert
	// From is the envelope and header sender.
	From string
	msg  *mail.Msg
}

// Mail is the go-mail message (the same for every attempt at an alert).
func (m *Message) Mail() *mail.Msg { return m.msg }

// message makes alert a into a mail: text/plain in UTF-8,
// quoted-printable, with the alert's own Message-ID and Date.
func (p *Publisher) message(a Alert) *Message {
	msg := mail.NewMsg(mail.WithEncoding(mail.EncodingQP), mail.WithCharset(mail.CharsetUTF8))
	// Addresses were checked when the publisher was made; one that go-mail
	// still refuses is left out rather than failing every alert.
	_ = msg.From(p.opts.From)
	msg.ToIgnoreInvalid(a.To...)
	msg.Subject(a.Subject)
	msg.SetMessageIDWithValue(a.ID)
	msg.SetDateWithValue(a.Date)
	msg.SetGenHeader(mail.HeaderXAutoResponseSuppress, "All")
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetUserAgent("autobuild")
	msg.SetBodyString(mail.TypeTextPlain, a.Body)
	return &Message{Alert: a, From: p.opts.From, msg: msg}
}

// tail is the last TailLines lines of a module's log, read only from
// below the log folder (os.Root: no path or symlink leads out of it) and
// only from a regular file; nothing when it cannot be read so.
func (p *Publisher) tail(log string) []string {
	if log == "" || p.opts.LogRoot == "" {
		return nil
	}
	rel, err := filepath.Rel(p.opts.LogRoot, log)
	if err != nil || !filepath.IsLocal(rel) {
		return nil
	}
	root, err := os.OpenRoot(p.opts.LogRoot)
	if err != nil {
		return nil
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		return nil
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return nil
	}
	lines, err := logtail.Read(f, TailLines)
	if err != nil {
		return nil
	}
	return lines
}

// printable is a value a build controls (a reason, a change's subject)
// made one printable, bounded line.
func printable(s string) string {
	return logtail.Clean(strings.TrimSpace(s))
}
