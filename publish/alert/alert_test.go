package alert_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/publish"
	"github.com/autobuild/autobuild/publish/alert"
	"github.com/autobuild/autobuild/publish/alert/smtptest"
	"github.com/autobuild/autobuild/publish/publishtest"
)

const (
	user = "bot"
	pass = "p4ss word"
	from = "autobuild@example.org"
)

// smtpTo is a transport to srv: STARTTLS required, verified against the
// server's own CA, and AUTH PLAIN.
func smtpTo(srv *smtptest.Server) *alert.SMTP {
	return &alert.SMTP{Host: srv.Host, Port: srv.Port, StartTLS: alert.TLSRequired,
		TLS: &tls.Config{RootCAs: srv.CA}, Username: user, Password: pass, Timeout: 10 * time.Second}
}

func startServer(t *testing.T, o smtptest.Options) *smtptest.Server {
	o.TLS, o.Username, o.Password = true, user, pass
	return smtptest.Start(t, o)
}

// fixture is a build root's state and log folders.
type fixture struct {
	dir, logRoot string
}

func newFixture(t *testing.T) *fixture {
	root := t.TempDir()
	f := &fixture{dir: filepath.Join(root, "state", "alerts"), logRoot: filepath.Join(root, "log-root")}
	if err := os.MkdirAll(f.logRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) publisher(t *testing.T, tr alert.Transport, edit func(*alert.Options)) *alert.Publisher {
	t.Helper()
	o := alert.Options{
		Dir: f.dir, From: from, To: []string{"ops@example.org"},
		Groups:    map[string][]string{"core": {"core@example.org", "OPS@example.org"}},
		Admins:    map[string][]string{"libfoo": {"Foo Dev <foo-dev@example.org>"}},
		SiteURL:   "https://ci.example.org/",
		LogRoot:   f.logRoot,
		Transport: tr,
		Host:      "ci.example.org",
		Now:       func() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) },
	}
	if edit != nil {
		edit(&o)
	}
	p, err := alert.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mod is a module of a run; a failed one gets a log of 30 numbered lines.
type mod struct {
	name   string
	state  report.State
	reason string
	log    string // the log's text; "" makes "log line 1" … "log line 30"
}

func (f *fixture) run(t *testing.T, counter int, mods ...mod) publish.Input {
	t.Helper()
	in := publish.Input{Run: &report.Run{Counter: counter, Start: time.Now()}, Files: map[string]publish.ModuleFiles{}}
	dir := filepath.Join(f.logRoot, fmt.Sprint(counter))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		rm := report.Module{Name: m.name, State: m.state, Reason: m.reason, Level: "isolated"}
		if m.name == "libfoo" {
			rm.Groups = []string{"core"}
		}
		files := publish.ModuleFiles{}
		if m.state == report.Failed || m.state == report.Built {
			text := m.log
			if text == "" {
				for i := 1; i <= 30; i++ {
					text += fmt.Sprintf("log line %d\n", i)
				}
			}
			files.Log = filepath.Join(dir, m.name+".log")
			if err := os.WriteFile(files.Log, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			rm.Log = files.Log
		}
		if m.state == report.Built {
			rm.Changes = []report.Change{{ID: "c0ffee1234567890", Author: "Ann", Subject: "fix the parser"}}
			rm.ChangesSince = "deadbeef"
		}
		if m.state == report.Failed {
			rm.Changes = []report.Change{{ID: "badc0de123456789", Author: "Bob", Subject: "rewrite the lexer"}}
			rm.ChangesSince = "c0ffee12"
		}
		in.Run.Modules = append(in.Run.Modules, rm)
		in.Files[m.name] = files
	}
	return in
}

func publishOK(t *testing.T, p *alert.Publisher, in publish.Input) {
	t.Helper()
	if err := p.Publish(context.Background(), in); err != nil {
		t.Fatalf("Publish run %d: %v", in.Run.Counter, err)
	}
}

func subject(t *testing.T, m smtptest.Mail) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(m.Header(t).Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func subjects(t *testing.T, ms []smtptest.Mail) []string {
	var out []string
	for _, m := range ms {
		out = append(out, subject(t, m))
	}
	return out
}

// outbox is what the publisher's state file holds undelivered.
func (f *fixture) outbox(t *testing.T) []alert.Alert {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Outbox []alert.Alert }
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st.Outbox
}

func TestConformance(t *testing.T) {
	servers := map[string]*smtptest.Server{}
	publishtest.Run(t, publishtest.Harness{
		New: func(t *testing.T, dir string) publish.Publisher {
			srv := startServer(t, smtptest.Options{})
			servers[dir] = srv
			p, err := alert.New(alert.Options{Dir: filepath.Join(dir, "alerts"), From: from, To: []string{"ops@example.org"},
				Transport: smtpTo(srv), Mode: alert.OnFailure})
			if err != nil {
				t.Fatal(err)
			}
			return p
		},
		// What it made visible: the mails it sent, and the runs it recorded.
		Snapshot: func(t *testing.T, dir string) string {
			var b strings.Builder
			for _, m := range servers[dir].Mails() {
				fmt.Fprintf(&b, "%s\n%s\n", m.Header(t).Get("Message-ID"), m.Body(t))
			}
			st, _ := os.ReadFile(filepath.Join(dir, "alerts", "state.json"))
			return b.String() + string(st)
		},
	})
}

// A module that breaks gets one mail to everyone concerned, with what
// happened; still failing, nothing more; fixed, one mail again.
func TestBrokeThenFixed(t *testing.T) {
	srv := startServer(t, smtptest.Options{})
	f := newFixture(t)
	p := f.publisher(t, smtpTo(srv), nil)

	publishOK(t, p, f.run(t, 41, mod{name: "libfoo", state: report.Built}, mod{name: "app", state: report.Built}))
	if n := len(srv.Mails()); n != 0 {
		t.Fatalf("%d mails for modules first seen OK, want none", n)
	}
	publishOK(t, p, f.run(t, 42, mod{name: "libfoo", state: report.Failed, reason: "build exited with status 2"}, mod{name: "app", state: report.Built}))
	got := srv.Mails()
	if len(got) != 1 {
		t.Fatalf("%d mails after libfoo broke, want 1: %q", len(got), subjects(t, got))
	}
	m := got[0]
	if !m.TLS || m.User != user {
		t.Errorf("delivered with TLS %v as %q: want STARTTLS and AUTH as %q", m.TLS, m.User, user)
	}
	wantRcpt := []string{"core@example.org", "foo-dev@example.org", "ops@example.org"}
	rcpt := slices.Clone(m.To)
	sort.Strings(rcpt)
	if !slices.Equal(rcpt, wantRcpt) {
		t.Errorf("recipients %q, want %q (global, group, admin; OPS@ once)", m.To, wantRcpt)
	}
	if m.From != from {
		t.Errorf("envelope sender %q", m.From)
	}
	h := m.Header(t)
	if s := subject(t, m); s != "[autobuild] libfoo broke in run 42" {
		t.Errorf("Subject %q", s)
	}
	if h.Get("From") != "<"+from+">" && h.Get("From") != from {
		t.Errorf("From %q", h.Get("From"))
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 3 {
		t.Errorf("To %q: %v", h.Get("To"), err)
	}
	id := h.Get("Message-ID")
	if !strings.HasPrefix(id, "<autobuild.run42.broke.") || !strings.HasSuffix(id, "@ci.example.org>") {
		t.Errorf("Message-ID %q", id)
	}
	if d, err := h.Date(); err != nil || !d.Equal(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("Date %q: %v", h.Get("Date"), err)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	body := m.Body(t)
	for _, want := range []string{
		"libfoo broke in run 42: failed.",
		"Reason: build exited with status 2",
		"Changes since its last good build (c0ffee12):",
		"badc0de12345 Bob: rewrite the lexer",
		"Last 20 lines of its log:",
		"  | log line 11\n", "  | log line 30\n",
		"Log: https://ci.example.org/logs/libfoo.log",
		"Site: https://ci.example.org/",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "log line 10\n") {
		t.Errorf("body quotes more than the last 20 lines:\n%s", body)
	}

	// Still failing: change mode says nothing more.
	publishOK(t, p, f.run(t, 43, mod{name: "libfoo", state: report.Failed, reason: "build exited with status 2"}, mod{name: "app", state: report.Built}))
	if n := len(srv.Mails()); n != 1 {
		t.Fatalf("%d mails after a run where nothing changed, want still 1", n)
	}
	// Fixed, and app skipped (broke) in the same run: a mail each.
	publishOK(t, p, f.run(t, 44, mod{name: "libfoo", state: report.Built}, mod{name: "app", state: report.Skipped, reason: "dependency x failed"}))
	got = srv.Mails()
	if s := subjects(t, got[1:]); !slices.Equal(s, []string{"[autobuild] libfoo fixed in run 44", "[autobuild] app broke in run 44"}) {
		t.Fatalf("subjects after the fix %q", s)
	}
	fixedBody := got[1].Body(t)
	if !strings.Contains(fixedBody, "libfoo fixed in run 44: built.") || !strings.Contains(fixedBody, "c0ffee123456 Ann: fix the parser") || strings.Contains(fixedBody, "Last 20 lines") {
		t.Errorf("fixed mail body:\n%s", fixedBody)
	}
	if !slices.Equal(got[2].To, []string{"ops@example.org"}) {
		t.Errorf("app (no group, no admins) mailed to %q, want the global list only", got[2].To)
	}
	if len(f.outbox(t)) != 0 {
		t.Errorf("outbox not empty after every delivery: %+v", f.outbox(t))
	}
}

// on: failure mails every run a module is failing, on: digest once per run.
func TestFailureAndDigestModes(t *testing.T) {
	t.Run("failure", func(t *testing.T) {
		srv := startServer(t, smtptest.Options{})
		f := newFixture(t)
		p := f.publisher(t, smtpTo(srv), func(o *alert.Options) { o.Mode = alert.OnFailure })
		publishOK(t, p, f.run(t, 1, mod{name: "libfoo", state: report.Failed, reason: "r"}))
		publishOK(t, p, f.run(t, 2, mod{name: "libfoo", state: report.Failed, reason: "r"}))
		publishOK(t, p, f.run(t, 3, mod{name: "libfoo", state: report.Built}))
		publishOK(t, p, f.run(t, 4, mod{name: "libfoo", state: report.Built}))
		want := []string{"[autobuild] libfoo broke in run 1", "[autobuild] libfoo still failing in run 2", "[autobuild] libfoo fixed in run 3"}
		if got := subjects(t, srv.Mails()); !slices.Equal(got, want) {
			t.Errorf("subjects %q, want %q", got, want)
		}
	})
	t.Run("digest", func(t *testing.T) {
		srv := startServer(t, smtptest.Options{})
		f := newFixture(t)
		p := f.publisher(t, smtpTo(srv), func(o *alert.Options) { o.Mode = alert.OnDigest })
		publishOK(t, p, f.run(t, 1, mod{name: "libfoo", state: report.Built}, mod{name: "app", state: report.Failed, reason: "app broke"}, mod{name: "docs", state: report.Built}))
		publishOK(t, p, f.run(t, 2, mod{name: "libfoo", state: report.Failed, reason: "libfoo broke"}, mod{name: "app", state: report.Built}, mod{name: "docs", state: report.Skipped, reason: "dependency libfoo failed"}))
		publishOK(t, p, f.run(t, 3, mod{name: "libfoo", state: report.Failed, reason: "libfoo broke"}, mod{name: "app", state: report.Built}, mod{name: "docs", state: report.Skipped, reason: "dependency libfoo failed"}))
		got := srv.Mails()
		if s := subjects(t, got); !slices.Equal(s, []string{"[autobuild] run 1: 1 broke", "[autobuild] run 2: 2 broke, 1 fixed"}) {
			t.Fatalf("digest subjects %q: want one mail per run with changes", s)
		}
		body := got[1].Body(t)
		for _, want := range []string{"libfoo broke in run 2: failed.", "Reason: libfoo broke", "app fixed in run 2: built.", "docs broke in run 2: skipped.", "Reason: dependency libfoo failed", "  | log line 30"} {
			if !strings.Contains(body, want) {
				t.Errorf("digest lacks %q:\n%s", want, body)
			}
		}
		if !slices.Equal(got[1].To, []string{"ops@example.org", "core@example.org", "foo-dev@example.org"}) {
			t.Errorf("digest of run 2 to %q: want everyone its modules mail, once each", got[1].To)
		}
	})
}

// What a build controls (reason, log, change subjects) and a module name
// with line breaks stay data: no header, no recipient, no markup.
func TestHostileContentIsData(t *testing.T) {
	srv := startServer(t, smtptest.Options{})
	f := newFixture(t)
	p := f.publisher(t, smtpTo(srv), nil)
	evilName := "evil\r\nBcc: evil@attacker.example\r\nX-Injected: 1"
	hostileLog := "<script>alert(1)</script>\n\x1b[31mred\x1b[0m\nSubject: fake\r\n.\r\nMAIL FROM:<x@attacker.example>\n"
	in := f.run(t, 7,
		mod{name: "libfoo", state: report.Failed, reason: "oops\r\nBcc: evil@attacker.example\r\n\r\n<b>injected body</b>", log: hostileLog},
		mod{name: "control", state: report.Failed, reason: "plain reason <b>kept</b>"},
	)
	in.Run.Modules = append(in.Run.Modules, report.Module{Name: evilName, State: report.Skipped, Reason: "x"})
	in.Files[evilName] = publish.ModuleFiles{}
	publishOK(t, p, in)
	got := srv.Mails()
	if len(got) != 3 {
		t.Fatalf("%d mails, want 3", len(got))
	}
	for _, m := range got {
		for _, r := range m.To {
			if strings.Contains(r, "attacker") {
				t.Errorf("injected recipient %q", r)
			}
		}
		h := m.Header(t)
		if h.Get("Bcc") != "" || h.Get("X-Injected") != "" {
			t.Errorf("injected header in %s", m.Data)
		}
		if strings.Contains(string(m.Data), "\nMAIL FROM") || strings.Contains(m.Body(t), "\x1b") {
			t.Errorf("raw control text in the message:\n%q", m.Data)
		}
	}
	byName := map[string]smtptest.Mail{}
	for _, m := range got {
		byName[strings.Fields(subject(t, m))[1]] = m
	}
	body := byName["libfoo"].Body(t)
	for _, want := range []string{`Reason: oops\x0d\x0aBcc: evil@attacker.example\x0d\x0a\x0d\x0a<b>injected body</b>`, "| <script>alert(1)</script>", `| \x1b[31mred\x1b[0m`, "| Subject: fake\n", "| .\n", "| MAIL FROM:<x@attacker.example>\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("libfoo's body lacks %q (carried as text):\n%s", want, body)
		}
	}
	if !strings.Contains(byName["control"].Body(t), "Reason: plain reason <b>kept</b>\n") {
		t.Errorf("control: the reason is not in the body as written:\n%s", byName["control"].Body(t))
	}
	evil, ok := byName[`evil\x0d\x0aBcc:`]
	if !ok {
		t.Fatalf("no mail for the module with a line break in its name: %q", subjects(t, got))
	}
	if s := subject(t, evil); s != `[autobuild] evil\x0d\x0aBcc: evil@attacker.example\x0d\x0aX-Injected: 1 broke in run 7` {
		t.Errorf("subject %q", s)
	}
}

// A mail server that cannot be reached fails only this publisher; the
// alert waits in the outbox and is delivered once, on the next run.
func TestServerDownKeepsAlert(t *testing.T) {
	f := newFixture(t)
	down := &alert.SMTP{Host: "127.0.0.1", Port: smtptest.ClosedPort(t), StartTLS: alert.TLSRequired, Timeout: 5 * time.Second}
	p := f.publisher(t, down, nil)
	publishOK(t, p, f.run(t, 1, mod{name: "libfoo", state: report.Built}))
	err := p.Publish(context.Background(), f.run(t, 2, mod{name: "libfoo", state: report.Failed, reason: "r"}))
	if err == nil || !strings.Contains(err.Error(), "kept for the next run") {
		t.Fatalf("Publish with the server down = %v, want an error saying the alert is kept", err)
	}
	if ob := f.outbox(t); len(ob) != 1 || ob[0].Subject != "[autobuild] libfoo broke in run 2" {
		t.Fatalf("outbox %+v", ob)
	}
	// Still down on run 3: nothing new (libfoo still failing), still kept.
	if err := p.Publish(context.Background(), f.run(t, 3, mod{name: "libfoo", state: report.Failed, reason: "r"})); err == nil {
		t.Fatal("run 3 with the server down succeeded")
	}
	srv := startServer(t, smtptest.Options{})
	p = f.publisher(t, smtpTo(srv), nil)
	publishOK(t, p, f.run(t, 4, mod{name: "libfoo", state: report.Failed, reason: "r"}))
	publishOK(t, p, f.run(t, 5, mod{name: "libfoo", state: report.Failed, reason: "r"}))
	got := srv.Mails()
	if s := subjects(t, got); !slices.Equal(s, []string{"[autobuild] libfoo broke in run 2"}) {
		t.Fatalf("after the server came back: %q, want run 2's alert once", s)
	}
	if id := got[0].Header(t).Get("Message-ID"); !strings.Contains(id, "run2.broke") {
		t.Errorf("Message-ID %q: not the alert's own", id)
	}
	if len(f.outbox(t)) != 0 {
		t.Errorf("outbox %+v, want empty", f.outbox(t))
	}
}

// A server that accepts a message and then drops the connection: that
// message is delivered (never sent again), the next one waits.
func TestAcceptThenDrop(t *testing.T) {
	f := newFixture(t)
	dropping := startServer(t, smtptest.Options{DropAfterData: true})
	p := f.publisher(t, smtpTo(dropping), nil)
	publishOK(t, p, f.run(t, 1, mod{name: "libfoo", state: report.Built}, mod{name: "app", state: report.Built}))
	err := p.Publish(context.Background(), f.run(t, 2, mod{name: "libfoo", state: report.Failed, reason: "r"}, mod{name: "app", state: report.Failed, reason: "r"}))
	if err == nil {
		t.Fatal("Publish succeeded though the second alert could not be sent")
	}
	first := subjects(t, dropping.Mails())
	if !slices.Equal(first, []string{"[autobuild] libfoo broke in run 2"}) {
		t.Fatalf("the dropping server got %q", first)
	}
	if ob := f.outbox(t); len(ob) != 1 || ob[0].Subject != "[autobuild] app broke in run 2" {
		t.Fatalf("outbox %+v, want only app's alert", ob)
	}
	good := startServer(t, smtptest.Options{})
	p = f.publisher(t, smtpTo(good), nil)
	publishOK(t, p, f.run(t, 3, mod{name: "libfoo", state: report.Failed, reason: "r"}, mod{name: "app", state: report.Failed, reason: "r"}))
	if s := subjects(t, good.Mails()); !slices.Equal(s, []string{"[autobuild] app broke in run 2"}) {
		t.Errorf("next run sent %q, want app's alert only", s)
	}
	if n := len(dropping.Mails()); n != 1 {
		t.Errorf("the first server got %d mails, want 1", n)
	}
}

// STARTTLS required refuses a server that does not offer it (control:
// opportunistic delivers to the same server in clear).
func TestStartTLSRequired(t *testing.T) {
	plain := smtptest.Start(t, smtptest.Options{})
	f := newFixture(t)
	tr := &alert.SMTP{Host: plain.Host, Port: plain.Port, StartTLS: alert.TLSRequired, Timeout: 5 * time.Second}
	p := f.publisher(t, tr, nil)
	if err := p.Publish(context.Background(), f.run(t, 1, mod{name: "libfoo", state: report.Failed, reason: "r"})); err == nil {
		t.Fatal("delivered without STARTTLS though it is required")
	}
	if n := len(plain.Mails()); n != 0 {
		t.Fatalf("%d mails sent in clear", n)
	}
	tr.StartTLS = alert.TLSOpportunistic
	publishOK(t, f.publisher(t, tr, nil), f.run(t, 2, mod{name: "libfoo", state: report.Failed, reason: "r"}))
	if got := plain.Mails(); len(got) != 1 || got[0].TLS {
		t.Fatalf("opportunistic: %d mails (TLS %v), want 1 in clear", len(got), len(got) == 1 && got[0].TLS)
	}
}

// The sendmail transport runs the program with -i -t and the message on
// its standard input; a failing program keeps the alert.
func TestSendmail(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "sendmail")
	script := "#!/bin/sh\n" +
		"if [ -e " + dir + "/fail ]; then echo 'sendmail: queue full' >&2; exit 75; fi\n" +
		"n=$(ls " + dir + "/msg.* 2>/dev/null | wc -l)\n" +
		"echo \"$@\" > " + dir + "/args.$n\n" +
		"cat > " + dir + "/msg.$n\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fail"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	p := f.publisher(t, &alert.Sendmail{Path: prog}, nil)
	err := p.Publish(context.Background(), f.run(t, 1, mod{name: "libfoo", state: report.Failed, reason: "r"}))
	if err == nil || !strings.Contains(err.Error(), "queue full") {
		t.Fatalf("Publish with a failing sendmail = %v, want its message", err)
	}
	if len(f.outbox(t)) != 1 {
		t.Fatalf("outbox %+v", f.outbox(t))
	}
	os.Remove(filepath.Join(dir, "fail"))
	publishOK(t, p, f.run(t, 2, mod{name: "libfoo", state: report.Failed, reason: "r"}))
	args, err := os.ReadFile(filepath.Join(dir, "args.0"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(args)) != "-i -t" {
		t.Errorf("sendmail arguments %q, want -i -t", args)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "msg.0"))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if to, _ := msg.Header.AddressList("To"); len(to) != 3 || !strings.Contains(msg.Header.Get("Subject"), "libfoo broke in run 1") {
		t.Errorf("message headers: To %q, Subject %q", msg.Header.Get("To"), msg.Header.Get("Subject"))
	}
	if _, err := os.Stat(filepath.Join(dir, "msg.1")); err == nil {
		t.Error("sendmail ran twice for one alert")
	}
	if len(f.outbox(t)) != 0 {
		t.Errorf("outbox %+v", f.outbox(t))
	}
}

// A damaged state file is kept aside; the publisher goes on.
func TestDamagedState(t *testing.T) {
	srv := startServer(t, smtptest.Options{})
	f := newFixture(t)
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "state.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := f.publisher(t, smtpTo(srv), nil)
	err := p.Publish(context.Background(), f.run(t, 9, mod{name: "libfoo", state: report.Failed, reason: "r"}))
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("Publish = %v, want it to say the state was damaged", err)
	}
	if n := len(srv.Mails()); n != 1 {
		t.Errorf("%d mails, want libfoo's", n)
	}
	aside, _ := filepath.Glob(filepath.Join(f.dir, "state.json.damaged-*"))
	if len(aside) != 1 {
		t.Errorf("damaged state kept aside as %q", aside)
	}
	publishOK(t, p, f.run(t, 10, mod{name: "libfoo", state: report.Failed, reason: "r"}))
}

// A log named outside the log folder (or through a symlink out of it) is
// not quoted.
func TestLogOutsideLogRootNotQuoted(t *testing.T) {
	srv := startServer(t, smtptest.Options{})
	f := newFixture(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("TOP SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := f.publisher(t, smtpTo(srv), nil)
	in := f.run(t, 1, mod{name: "libfoo", state: report.Failed, reason: "r"}, mod{name: "app", state: report.Failed, reason: "r"})
	in.Files["libfoo"] = publish.ModuleFiles{Log: secret}
	link := filepath.Join(f.logRoot, "1", "app.log")
	os.Remove(link)
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	publishOK(t, p, in)
	got := srv.Mails()
	if len(got) != 2 {
		t.Fatalf("%d mails", len(got))
	}
	for _, m := range got {
		if strings.Contains(m.Body(t), "TOP SECRET") {
			t.Errorf("a file outside the log folder was quoted:\n%s", m.Body(t))
		}
	}
	// Control: the same publisher quotes a log inside it.
	publishOK(t, p, f.run(t, 2, mod{name: "libfoo", state: report.Built}, mod{name: "app", state: report.Built}))
	publishOK(t, p, f.run(t, 3, mod{name: "libfoo", state: report.Failed, reason: "r"}, mod{name: "app", state: report.Built}))
	got = srv.Mails()
	if last := got[len(got)-1].Body(t); !strings.Contains(last, "| log line 30") {
		t.Errorf("control: no log quoted from the log folder:\n%s", last)
	}
}
