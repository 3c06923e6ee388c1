package main

import (
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/publish/alert/smtptest"
)

// The real binary mails a module's breakage and its fix, one mail per
// change, over STARTTLS with AUTH to the test's SMTP server; with the
// server down the run publishes, exits 5 naming the alerts publisher, and
// the next run delivers the kept alert once.
func TestAlertsEndToEnd(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: true, Username: "bot", Password: "s3cret"})
	f := newFarm(t)
	ca := filepath.Join(f.dir, "ca.pem")
	pw := filepath.Join(f.dir, "smtp.pw")
	if err := os.WriteFile(ca, srv.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(pw, 0o600)
	broken := script(`echo compiling; echo "error: undefined reference to frob"; exit 1`)
	fixedScript := script(`echo compiling; echo ok`)
	lib := f.repo("libfoo", broken)
	f.repo("app", script(`echo app`))
	config := func(port int) {
		f.config(fmt.Sprintf(`publish: {url: "https://ci.example.org/"}
modules:
  - {name: libfoo, source: {url: repos/libfoo}, groups: [core], admins: [foo-dev@example.org]}
  - {name: app, source: {url: repos/app}}
alerts:
  from: autobuild@example.org
  to: [ops@example.org]
  groups: {core: [core@example.org]}
  smtp: {host: 127.0.0.1, port: %d, username: bot, password_file: smtp.pw, ca_file: ca.pem}
`, port))
	}
	config(srv.Port)
	subjects := func(s *smtptest.Server) []string {
		var out []string
		for _, m := range s.Mails() {
			sub, err := new(mime.WordDecoder).DecodeHeader(m.Header(t).Get("Subject"))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, sub)
		}
		return out
	}

	if r := f.run(); r.code != 1 {
		t.Fatalf("run 1: want exit 1 (libfoo failed)\n%s", r.dump())
	}
	if got := subjects(srv); !slices.Equal(got, []string{"[autobuild] libfoo broke in run 1"}) {
		t.Fatalf("after run 1: mails %q", got)
	}
	m := srv.Mails()[0]
	if !m.TLS || m.User != "bot" || len(m.To) != 3 {
		t.Errorf("mail over TLS %v as %q to %q: want STARTTLS, AUTH as bot, 3 recipients", m.TLS, m.User, m.To)
	}
	body := m.Body(t)
	for _, want := range []string{"Reason: ", "| error: undefined reference to frob", "Log: https://ci.example.org/logs/libfoo.log"} {
		if !strings.Contains(body, want) {
			t.Errorf("mail body lacks %q:\n%s", want, body)
		}
	}
	// Nothing changed: no mail.
	if r := f.run(); r.code != 1 {
		t.Fatalf("run 2: want exit 1\n%s", r.dump())
	}
	testutil.Commit(t, lib, fixedScript)
	if r := f.run(); r.code != 0 {
		t.Fatalf("run 3: want exit 0 (fixed)\n%s", r.dump())
	}
	want := []string{"[autobuild] libfoo broke in run 1", "[autobuild] libfoo fixed in run 3"}
	if got := subjects(srv); !slices.Equal(got, want) {
		t.Fatalf("after the fix: mails %q, want %q", got, want)
	}

	// The server goes away; libfoo breaks again.
	srv.Stop()
	testutil.Commit(t, lib, broken)
	r := f.run()
	if r.code != 5 || !strings.Contains(r.stderr, "publish alerts:") || !strings.Contains(r.stderr, "kept for the next run") {
		t.Fatalf("run 4 with the mail server down: want exit 5 naming the alerts publisher\n%s", r.dump())
	}
	if st := f.status(); st.Counter != 4 {
		t.Errorf("the site shows run %d, want run 4 published though mail failed", st.Counter)
	}
	back := smtptest.Start(t, smtptest.Options{TLS: true, Username: "bot", Password: "s3cret"})
	os.WriteFile(ca, back.CAPEM, 0o644)
	config(back.Port)
	if r := f.run(); r.code != 1 {
		t.Fatalf("run 5: want exit 1 (libfoo still failing), the kept alert delivered\n%s", r.dump())
	}
	if r := f.run(); r.code != 1 {
		t.Fatalf("run 6: want exit 1\n%s", r.dump())
	}
	if got := subjects(back); !slices.Equal(got, []string{"[autobuild] libfoo broke in run 4"}) {
		t.Errorf("after the server came back: mails %q, want run 4's alert once", got)
	}

	// A password file others can read stops the run before it starts.
	os.Chmod(pw, 0o644)
	if r := f.run(); r.code != 2 || !strings.Contains(r.stderr, "alerts.smtp.password_file") || !strings.Contains(r.stderr, "chmod 600") {
		t.Errorf("password file readable by others: want exit 2 naming the key\n%s", r.dump())
	}
}
