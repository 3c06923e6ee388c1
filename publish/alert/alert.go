// Package alert mails people when modules break or are fixed: a
// publish.Publisher, run after the site so that the links it sends lead to
// the live site.
//
// What is sent (Mode):
//
//   - OnChange (the default): one mail per module whose state changed
//     since the last run this publisher saw: "broke" (it was OK, built or
//     reused, and is now failed or skipped; or it is seen for the first
//     time and not OK) and "fixed" (it was failed or skipped, and is OK).
//   - OnFailure: as OnChange, and a "still failing" mail for every run in
//     which a module that was already failing is failed or skipped again.
//   - OnDigest: at most one mail per run, listing every change of that
//     run (broke and fixed), to everyone the changed modules would have
//     mailed.
//
// A module's mail goes to Options.To, to the list of each of its groups
// (Options.Groups) and to its own admins (Options.Admins); a mail with no
// recipient is not made. The subject names the module, the change and the
// run ("[autobuild] libfoo broke in run 42"); the body gives the state and
// reason, the changes since its last good build, the last lines of its
// log (bounded and printable: publish/logtail) and links to the log and the
// site. Everything a build controls (reason, log, change subjects) is
// carried as text in the body, cleaned of control characters; the headers
// are made from the configuration, the module name and the run counter
// only, and go-mail encodes them.
//
// Delivery. The publisher keeps its state in one file, Options.Dir/state.json,
// replaced atomically (renameio): the last state it saw per module and an
// outbox of alerts not yet delivered. A run first adds its new alerts to
// the outbox and records the states it saw, in one replacement, then
// delivers the outbox oldest first. An alert leaves the outbox only once
// the transport accepted it (the SMTP server answered the end of DATA
// with success, or the sendmail program exited 0), and the file is
// replaced after each accepted alert. A mail server that cannot be
// reached, or refuses, leaves the alerts in the outbox: Publish returns an
// error (the run's publishing error, see engine/errors.go), and the next
// run sends them first. An engine killed between the server's acceptance
// and the file's replacement sends that alert again on the next run, with
// the same Message-ID (made from the installation, the run counter, the
// module and the change), so a receiver can recognise the copy. The outbox
// holds at most MaxOutbox alerts; beyond that the oldest are dropped, and
// Publish says how many.
package alert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/publish"
)

// Mode says when mail is sent.
type Mode string

// The modes (the configuration's alerts.on).
const (
	OnChange  Mode = "change"
	OnFailure Mode = "failure"
	OnDigest  Mode = "digest"
)

// Modes lists the valid modes, the default first.
var Modes = []Mode{OnChange, OnFailure, OnDigest}

// TailLines is how many last lines of a failed module's log a mail quotes.
const TailLines = 20

// MaxOutbox bounds the alerts kept for delivery.
const MaxOutbox = 1000

// maxChanges bounds the changes a mail lists per module.
const maxChanges = 30

// Options configure a Publisher.
type Options struct {
	// Dir is the publisher's own folder (created if missing): the build
	// root's state/alerts.
	Dir string
	// Mode is when to mail; empty is OnChange.
	Mode Mode
	// From is the sender address.
	From string
	// To receive every alert; Groups[g] those of modules in group g;
	// Admins[m] those of module m.
	To     []string
	Groups map[string][]string
	Admins map[string][]string
	// SiteURL and FilesURL are the site's address and its files' (see
	// publish.Site.FilesURL); the mails link there when set.
	SiteURL, FilesURL string
	// LogRoot is the engine's log folder: a log is quoted only from below
	// it, without leaving it through a symlink.
	LogRoot string
	// Transport delivers the mail.
	Transport Transport
	// Host names this installation in every Message-ID (default: the
	// host name).
	Host string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Publisher mails alerts; see the package doc.
type Publisher struct {
	opts Options
}

// New checks the options and returns the publisher.
func New(o Options) (*Publisher, error) {
	if o.Dir == "" || !filepath.IsAbs(o.Dir) {
		return nil, fmt.Errorf("alerts: the state folder must be an absolute path, not %q", o.Dir)
	}
	if o.Mode == "" {
		o.Mode = OnChange
	}
	if err := CheckMode(string(o.Mode)); err != nil {
		return nil, err
	}
	if _, err := mail.ParseAddress(o.From); err != nil {
		return nil, fmt.Errorf("alerts: sender %q: %v", o.From, err)
	}
	for _, l := range append(append([][]string{o.To}, mapLists(o.Groups)...), mapLists(o.Admins)...) {
		for _, a := range l {
			if err := CheckAddress(a); err != nil {
				return nil, fmt.Errorf("alerts: %v", err)
			}
		}
	}
	if o.Transport == nil {
		return nil, errors.New("alerts: no transport (smtp or sendmail)")
	}
	if o.Host == "" {
		o.Host, _ = os.Hostname()
	}
	o.Host = hostPart(o.Host)
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Publisher{opts: o}, nil
}

func mapLists(m map[string][]string) [][]string {
	var out [][]string
	for _, l := range m {
		out = append(out, l)
	}
	return out
}

// CheckMode checks a value of alerts.on.
func CheckMode(s string) error {
	for _, m := range Modes {
		if s == string(m) {
			return nil
		}
	}
	return fmt.Errorf("must be change, failure or digest, not %q", s)
}

// CheckAddress checks one recipient or sender: an address as mail
// headers write it ("ops@example.org" or "Ops <ops@example.org>").
func CheckAddress(a string) error {
	if strings.ContainsAny(a, "\r\n\x00") {
		return fmt.Errorf("address %q holds a line break or NUL", a)
	}
	if _, err := mail.ParseAddress(a); err != nil {
		return fmt.Errorf("address %q: %v", a, err)
	}
	return nil
}

// Name implements publish.Publisher.
func (p *Publisher) Name() string { return "alerts" }

// Alert is one mail, as the outbox keeps it: what is needed to make the
// same message again on every attempt.
type Alert struct {
	ID      string    `json:"id"`
	Date    time.Time `json:"date"`
	To      []string  `json:"to"`
	Subject string    `json:"subject"`
	Body    string    `json:"body"`
}

// stateFile is the publisher's file in Options.Dir.
const stateFile = "state.json"

// state is what the publisher remembers between runs.
type state struct {
	// Run is the last run counter it saw.
	Run int `json:"run"`
	// Failing tells, per module, whether it was failing (failed or
	// skipped) in that run.
	Failing map[string]bool `json:"failing"`
	// Outbox holds the alerts not yet delivered, oldest first.
	Outbox []Alert `json:"outbox"`
}

// Publish implements publish.Publisher: it adds this run's alerts to the
// outbox and delivers the outbox.
func (p *Publisher) Publish(ctx context.Context, in publish.Input) error {
	if err := publish.CheckInput(in); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if err := os.MkdirAll(p.opts.Dir, 0o700); err != nil {
		return err
	}
	st, damaged, err := p.load()
	if err != nil {
		return err
	}
	var problems []error
	if damaged != "" {
		problems = append(problems, fmt.Errorf("its state was damaged: kept aside as %s; every module counts as new", damaged))
	}
	if in.Run.Counter > st.Run {
		alerts := p.alerts(st, in)
		st.Outbox = append(st.Outbox, alerts...)
		if n := len(st.Outbox) - MaxOutbox; n > 0 {
			st.Outbox = st.Outbox[n:]
			problems = append(problems, fmt.Errorf("%d undelivered alerts dropped (the outbox keeps %d)", n, MaxOutbox))
		}
		st.Run = in.Run.Counter
		st.Failing = map[string]bool{}
		for _, m := range in.Run.Modules {
			st.Failing[m.Name] = !m.State.OK()
		}
		if err := p.save(st); err != nil {
			return err
		}
	}
	if err := p.deliver(ctx, st); err != nil {
		problems = append(problems, err)
	}
	return errors.Join(problems...)
}

// deliver sends the outbox, oldest first, removing each alert the
// transport accepted.
func (p *Publisher) deliver(ctx context.Context, st *state) error {
	if len(st.Outbox) == 0 {
		return nil
	}
	msgs := make([]*Message, len(st.Outbox))
	for i, a := range st.Outbox {
		msgs[i] = p.message(a)
	}
	accepted, err := p.opts.Transport.Send(ctx, msgs)
	if len(accepted) > 0 {
		kept := st.Outbox[:0:0]
		done := map[string]bool{}
		for _, i := range accepted {
			done[st.Outbox[i].ID] = true
		}
		for _, a := range st.Outbox {
			if !done[a.ID] {
				kept = append(kept, a)
			}
		}
		st.Outbox = kept
		if serr := p.save(st); serr != nil {
			return errors.Join(err, fmt.Errorf("record %d delivered alerts (they are sent again on the next run): %w", len(accepted), serr))
		}
	}
	if err != nil {
		return fmt.Errorf("%d of %d alerts not delivered, kept for the next run: %w", len(st.Outbox), len(msgs), err)
	}
	if len(st.Outbox) > 0 {
		return fmt.Errorf("%d alerts not delivered, kept for the next run", len(st.Outbox))
	}
	return nil
}

// load reads the state; a missing file is an empty state, a damaged one
// is moved aside (its name returned) and the state starts empty.
func (p *Publisher) load() (*state, string, error) {
	path := filepath.Join(p.opts.Dir, stateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &state{Failing: map[string]bool{}}, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil || st.Run < 0 {
		aside := fmt.Sprintf("%s.damaged-%d", path, p.opts.Now().UnixNano())
		if err := os.Rename(path, aside); err != nil {
			return nil, "", err
		}
		return &state{Failing: map[string]bool{}}, aside, nil
	}
	if st.Failing == nil {
		st.Failing = map[string]bool{}
	}
	return &st, "", nil
}

// save replaces the state file atomically.
func (p *Publisher) save(st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return renameio.WriteFile(filepath.Join(p.opts.Dir, stateFile), append(b, '\n'), 0o600)
}

// event is what happened to one module in a run.
type event string

const (
	broke   event = "broke"
	fixed   event = "fixed"
	failing event = "still failing"
)

// alerts are the mails this run makes, by mode.
func (p *Publisher) alerts(st *state, in publish.Input) []Alert {
	type change struct {
		m  *report.Module
		ev event
	}
	var changes []change
	for i := range in.Run.Modules {
		m := &in.Run.Modules[i]
		was, seen := st.Failing[m.Name]
		now := !m.State.OK()
		switch {
		case now && (!seen || !was):
			changes = append(changes, change{m, broke})
		case !now && seen && was:
			changes = append(changes, change{m, fixed})
		case now && p.opts.Mode == OnFailure:
			changes = append(changes, change{m, failing})
		}
	}
	date := p.opts.Now().UTC().Truncate(time.Second)
	var out []Alert
	if p.opts.Mode == OnDigest {
		if len(changes) == 0 {
			return nil
		}
		var to []string
		var body strings.Builder
		counts := map[event]int{}
		for _, c := range changes {
			to = append(to, p.recipients(c.m)...)
			counts[c.ev]++
		}
		to = dedupe(to)
		if len(to) == 0 {
			return nil
		}
		var parts []string
		for _, ev := range []event{broke, fixed} {
			if counts[ev] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[ev], ev))
			}
		}
		fmt.Fprintf(&body, "Run %d: %s.\n", in.Run.Counter, strings.Join(parts, ", "))
		for _, c := range changes {
			body.WriteString("\n")
			body.WriteString(strings.Repeat("-", 72) + "\n")
			p.writeModule(&body, in, c.m, c.ev)
		}
		p.writeSite(&body)
		out = append(out, Alert{
			ID:      p.messageID(in.Run.Counter, "", "digest"),
			Date:    date,
			To:      to,
			Subject: fmt.Sprintf("[autobuild] run %d: %s", in.Run.Counter, strings.Join(parts, ", ")),
			Body:    body.String(),
		})
		return out
	}
	for _, c := range changes {
		to := dedupe(p.recipients(c.m))
		if len(to) == 0 {
			continue
		}
		var body strings.Builder
		p.writeModule(&body, in, c.m, c.ev)
		p.writeSite(&body)
		out = append(out, Alert{
			ID:      p.messageID(in.Run.Counter, c.m.Name, string(c.ev)),
			Date:    date,
			To:      to,
			Subject: fmt.Sprintf("[autobuild] %s %s in run %d", printable(c.m.Name), c.ev, in.Run.Counter),
			Body:    body.String(),
		})
	}
	return out
}

// recipients of module m's alerts, before deduplication.
func (p *Publisher) recipients(m *report.Module) []string {
	to := append([]string(nil), p.opts.To...)
	for _, g := range m.Groups {
		to = append(to, p.opts.Groups[g]...)
	}
	return append(to, p.opts.Admins[m.Name]...)
}

// dedupe keeps each address once (compared without case), in order.
func dedupe(as []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range as {
		key := strings.ToLower(a)
		if pa, err := mail.ParseAddress(a); err == nil {
			key = strings.ToLower(pa.Address)
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, a)
		}
	}
	return out
}

// writeModule writes what one module's alert says.
func (p *Publisher) writeModule(b *strings.Builder, in publish.Input, m *report.Module, ev event) {
	name := printable(m.Name)
	if m.Label != "" {
		name += " (" + printable(m.Label) + ")"
	}
	fmt.Fprintf(b, "%s %s in run %d: %s.\n", name, ev, in.Run.Counter, m.State)
	if m.Reason != "" {
		fmt.Fprintf(b, "Reason: %s\n", printable(m.Reason))
	}
	if m.Revision != "" {
		fmt.Fprintf(b, "Revision: %s\n", printable(m.Revision))
	}
	if m.FailedSince != 0 {
		fmt.Fprintf(b, "Failing with the same inputs since run %d.\n", m.FailedSince)
	}
	if len(m.Changes) > 0 {
		since := "its last good build"
		if m.ChangesSince != "" {
			since += " (" + printable(m.ChangesSince) + ")"
		}
		fmt.Fprintf(b, "\nChanges since %s:\n", since)
		for i, c := range m.Changes {
			if i == maxChanges {
				fmt.Fprintf(b, "  … and %d more\n", len(m.Changes)-maxChanges)
				break
			}
			line := "  " + printable(shortID(c.ID))
			if c.Author != "" {
				line += " " + printable(c.Author) + ":"
			}
			fmt.Fprintf(b, "%s %s\n", line, printable(c.Subject))
		}
	}
	if m.State == report.Failed {
		if tail := p.tail(in.Files[m.Name].Log); len(tail) > 0 {
			fmt.Fprintf(b, "\nLast %d lines of its log:\n", len(tail))
			for _, l := range tail {
				fmt.Fprintf(b, "  | %s\n", l)
			}
		}
		if u := publish.LogURL(p.opts.SiteURL, p.opts.FilesURL, m.Name); u != "" {
			fmt.Fprintf(b, "\nLog: %s\n", u)
		}
	}
}

func (p *Publisher) writeSite(b *strings.Builder) {
	if p.opts.SiteURL != "" {
		fmt.Fprintf(b, "\nSite: %s\n", p.opts.SiteURL)
	}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// messageID is the alert's Message-ID (without angle brackets): the same
// for the same installation, run, module and change, whatever the attempt.
func (p *Publisher) messageID(run int, module, what string) string {
	h := sha256.Sum256([]byte(p.opts.Dir + "\x00" + p.opts.Host + "\x00" + module + "\x00" + what + "\x00" + fmt.Sprint(run)))
	kind := strings.ReplaceAll(what, " ", "-")
	return fmt.Sprintf("autobuild.run%d.%s.%s@%s", run, kind, hex.EncodeToString(h[:10]), p.opts.Host)
}

// hostPart keeps what a Message-ID's right side may hold of a host name.
func hostPart(h string) string {
	var b strings.Builder
	for _, r := range h {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			b.WriteRune(r)
		}
	}
	s := strings.Trim(b.String(), ".-")
	if s == "" || strings.Contains(s, "..") {
		return "localhost"
	}
	return s
}
