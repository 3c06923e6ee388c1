package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
)

// Alerts configures the alert mails (publish/alert): who gets them, when,
// and through which mail system (SMTP or a sendmail program, exactly one).
type Alerts struct {
	// To receive every alert.
	To []string `config:"to"`
	// Groups are the lists of the modules of each group (modules[].groups).
	Groups map[string][]string `config:"groups"`
	// On is when to mail: change (the default), failure or digest.
	On string `config:"on"`
	// From is the sender address.
	From     string `config:"from"`
	SMTP     *SMTP  `config:"smtp"`
	Sendmail string `config:"sendmail"`

	// passwordLine is the line of smtp.password_file, for errors found
	// when the file is read.
	passwordLine int
}

// SMTP is an SMTP server for the alerts.
type SMTP struct {
	Host string `config:"host"`
	// Port defaults to 587 with a username, else 25.
	Port     int    `config:"port"`
	Username string `config:"username"`
	// PasswordFile holds the password (its first line); it must not be
	// readable by group or others. A password is never in the
	// configuration itself.
	PasswordFile string `config:"password_file"`
	// StartTLS is required (the default), opportunistic or none.
	StartTLS string `config:"starttls"`
	// CAFile, when set, is a PEM file of the certificates that verify the
	// server (a private CA) instead of the system's.
	CAFile string `config:"ca_file"`
}

// alerts validates the alerts: block and the modules' admins: lists, and
// makes its paths absolute. It touches no disk.
func (l *loader) alerts(c *Config, abs func(string) string) error {
	a := c.Alerts
	if a == nil {
		for i, m := range c.Modules {
			if len(m.Admins) > 0 {
				return l.err(fmt.Sprintf("modules[%d].admins", i), "no alerts: block says how to mail them: add one (see README, \"Alerts\")")
			}
		}
		return nil
	}
	if a.On == "" {
		a.On = "change"
	}
	switch a.On {
	case "change", "failure", "digest":
	default:
		return l.err("alerts.on", "must be change, failure or digest, not %q", a.On)
	}
	if a.From == "" {
		return l.err("alerts.from", "must name the sender address (autobuild@example.org)")
	}
	if msg := checkAddress(a.From); msg != "" {
		return l.err("alerts.from", "%s", msg)
	}
	for i, to := range a.To {
		if msg := checkAddress(to); msg != "" {
			return l.err(fmt.Sprintf("alerts.to[%d]", i), "%s", msg)
		}
	}
	groups := map[string]bool{}
	for _, m := range c.Modules {
		for _, g := range m.Groups {
			groups[g] = true
		}
	}
	for _, g := range l.order["alerts.groups"] {
		key := "alerts.groups." + g
		if !groups[g] {
			return l.err(key, "no module is in group %q (modules[].groups)", g)
		}
		for i, to := range a.Groups[g] {
			if msg := checkAddress(to); msg != "" {
				return l.err(fmt.Sprintf("%s[%d]", key, i), "%s", msg)
			}
		}
	}
	for i, m := range c.Modules {
		for j, to := range m.Admins {
			if msg := checkAddress(to); msg != "" {
				return l.err(fmt.Sprintf("modules[%d].admins[%d]", i, j), "%s", msg)
			}
		}
	}
	switch {
	case a.SMTP == nil && a.Sendmail == "":
		return l.err("alerts", "say how to send: smtp: {host: …} or sendmail: /usr/sbin/sendmail")
	case a.SMTP != nil && a.Sendmail != "":
		return l.err("alerts.sendmail", "give either smtp: or sendmail:, not both")
	case a.Sendmail != "":
		if !filepath.IsAbs(a.Sendmail) {
			return l.err("alerts.sendmail", "must be an absolute path to the program, not %q", a.Sendmail)
		}
		a.Sendmail = filepath.Clean(a.Sendmail)
		return nil
	}
	s := a.SMTP
	if s.Host == "" || strings.ContainsAny(s.Host, " /@\t\r\n\x00") {
		return l.err("alerts.smtp.host", "must be a host name or address, not %q", s.Host)
	}
	if s.Port == 0 {
		s.Port = 25
		if s.Username != "" {
			s.Port = 587
		}
	}
	if s.Port < 1 || s.Port > 65535 {
		return l.err("alerts.smtp.port", "must be from 1 to 65535, not %d", s.Port)
	}
	if s.StartTLS == "" {
		s.StartTLS = "required"
	}
	switch s.StartTLS {
	case "required", "opportunistic", "none":
	default:
		return l.err("alerts.smtp.starttls", "must be required, opportunistic or none, not %q", s.StartTLS)
	}
	if (s.Username == "") != (s.PasswordFile == "") {
		if s.Username == "" {
			return l.err("alerts.smtp.username", "a password_file needs a username")
		}
		return l.err("alerts.smtp.password_file", "a username needs a password_file (the password is never written in the configuration)")
	}
	if s.Username != "" && s.StartTLS == "none" {
		return l.err("alerts.smtp.starttls", "none would send the password in clear: use required")
	}
	s.PasswordFile = abs(s.PasswordFile)
	s.CAFile = abs(s.CAFile)
	a.passwordLine = l.lineOf("alerts.smtp.password_file")
	return nil
}

func checkAddress(a string) string {
	if strings.ContainsAny(a, "\r\n\x00") {
		return fmt.Sprintf("%q holds a line break", a)
	}
	if _, err := mail.ParseAddress(a); err != nil {
		return fmt.Sprintf("%q is not a mail address (ops@example.org or \"Ops <ops@example.org>\"): %v", a, err)
	}
	return ""
}

// SMTPPassword reads alerts.smtp.password_file: its first line, from a
// regular file that neither its group nor others may read. The error is
// an *Error naming the key and its line.
func (c *Config) SMTPPassword() (string, error) {
	a := c.Alerts
	if a == nil || a.SMTP == nil || a.SMTP.PasswordFile == "" {
		return "", nil
	}
	bad := func(format string, args ...any) error {
		return &Error{File: c.File, Key: "alerts.smtp.password_file", Line: a.passwordLine, Msg: fmt.Sprintf(format, args...)}
	}
	p := a.SMTP.PasswordFile
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", bad("%s does not exist", p)
		}
		return "", bad("%v", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", bad("%v", err)
	}
	if !info.Mode().IsRegular() {
		return "", bad("%s is not a regular file", p)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return "", bad("%s is readable or writable by others (mode %04o): chmod 600 it", p, info.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 4097))
	if err != nil {
		return "", bad("%v", err)
	}
	if len(b) > 4096 {
		return "", bad("%s is longer than a password (4 KiB)", p)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", bad("%s is empty", p)
	}
	return pw, nil
}
