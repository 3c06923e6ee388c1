package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const alertsModules = `modules:
  - name: libfoo
    source: {url: /r/libfoo}
    groups: [core]
    admins: [foo-dev@example.org]
  - name: app
    source: {url: /r/app}
`

func TestAlertsGood(t *testing.T) {
	p := write(t, alertsModules+`alerts:
  to: ["Ops <ops@example.org>"]
  groups: {core: [core@example.org]}
  from: autobuild@example.org
  smtp: {host: mail.example.org, username: bot, password_file: pw}
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Alerts
	if a == nil || a.On != "change" || a.SMTP.Port != 587 || a.SMTP.StartTLS != "required" {
		t.Fatalf("alerts = %+v (smtp %+v): want on change, port 587 with a username, starttls required", a, a.SMTP)
	}
	if want := filepath.Join(filepath.Dir(p), "pw"); a.SMTP.PasswordFile != want {
		t.Errorf("password_file = %q, want %q (relative to the file)", a.SMTP.PasswordFile, want)
	}
	if got := c.Modules[0].Admins; len(got) != 1 || got[0] != "foo-dev@example.org" {
		t.Errorf("admins = %q", got)
	}
	// Without a username: port 25.
	c, err = Load(write(t, alertsModules+"alerts: {from: a@example.org, smtp: {host: localhost}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Alerts.SMTP.Port != 25 {
		t.Errorf("port = %d, want 25", c.Alerts.SMTP.Port)
	}
	// No alerts: no block, nothing set.
	c, err = Load(write(t, mod("")))
	if err != nil || c.Alerts != nil {
		t.Fatalf("no alerts: %+v, %v", c, err)
	}
}

func TestAlertsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, key, msg string
		line                 int
	}{
		{"on", "alerts: {on: always, from: a@example.org, sendmail: /usr/sbin/sendmail}\n", "alerts.on", "must be change, failure or digest", 8},
		{"from", "alerts: {sendmail: /usr/sbin/sendmail}\n", "alerts.from", "sender", 8},
		{"to", "alerts:\n  from: a@example.org\n  sendmail: /usr/sbin/sendmail\n  to:\n    - ok@example.org\n    - not an address\n", "alerts.to[1]", "not a mail address", 13},
		{"group", "alerts: {from: a@example.org, sendmail: /s, groups: {cor: [c@example.org]}}\n", "alerts.groups.cor", `no module is in group "cor"`, 8},
		{"transport", "alerts: {from: a@example.org}\n", "alerts", "smtp: {host: …} or sendmail:", 8},
		{"both", "alerts: {from: a@example.org, sendmail: /s, smtp: {host: h}}\n", "alerts.sendmail", "not both", 8},
		{"relative sendmail", "alerts: {from: a@example.org, sendmail: sendmail}\n", "alerts.sendmail", "absolute path", 8},
		{"starttls", "alerts: {from: a@example.org, smtp: {host: h, starttls: maybe}}\n", "alerts.smtp.starttls", "required, opportunistic or none", 8},
		{"username alone", "alerts: {from: a@example.org, smtp: {host: h, username: u}}\n", "alerts.smtp.password_file", "never written in the configuration", 8},
		{"clear password", "alerts: {from: a@example.org, smtp: {host: h, username: u, password_file: p, starttls: none}}\n", "alerts.smtp.starttls", "in clear", 8},
		{"password in yaml", "alerts: {from: a@example.org, smtp: {host: h, password: secret}}\n", "alerts.smtp.password", "unknown key", 8},
		{"port", "alerts: {from: a@example.org, smtp: {host: h, port: 70000}}\n", "alerts.smtp.port", "1 to 65535", 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ce := loadErr(t, write(t, alertsModules+tc.body))
			if ce.Key != tc.key || !strings.Contains(ce.Msg, tc.msg) || ce.Line != tc.line {
				t.Errorf("error %v (key %q, line %d), want key %q, line %d, containing %q", ce, ce.Key, ce.Line, tc.key, tc.line, tc.msg)
			}
		})
	}
	// A module's admins without an alerts: block say nothing would mail them.
	ce := loadErr(t, write(t, alertsModules))
	if ce.Key != "modules[0].admins" || ce.Line != 5 {
		t.Errorf("admins without alerts: %v (key %q, line %d)", ce, ce.Key, ce.Line)
	}
	// A line break in an address would be a header of its own: refused.
	hostile := strings.Replace(alertsModules, "[foo-dev@example.org]", `["foo-dev@example.org\r\nBcc: evil@example.org"]`, 1)
	ce = loadErr(t, write(t, hostile+"alerts: {from: a@example.org, sendmail: /s}\n"))
	if ce.Key != "modules[0].admins[0]" || !strings.Contains(ce.Msg, "line break") {
		t.Errorf("admin with CR/LF: %v", ce)
	}
}

// The SMTP password comes from a file only its owner can read.
func TestSMTPPassword(t *testing.T) {
	p := write(t, alertsModules+"alerts:\n  from: a@example.org\n  smtp: {host: h, username: u, password_file: pw}\n")
	pw := filepath.Join(filepath.Dir(p), "pw")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SMTPPassword(); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(pw, []byte("s3cret\nignored\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(pw, 0o644)
	_, err = c.SMTPPassword()
	if err == nil || !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), ":10: alerts.smtp.password_file:") {
		t.Errorf("a file others can read: %v, want a refusal naming file:line: key", err)
	}
	os.Chmod(pw, 0o600)
	got, err := c.SMTPPassword()
	if err != nil || got != "s3cret" {
		t.Errorf("SMTPPassword = %q, %v; want the first line", got, err)
	}
}
