package alert

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
)

// Transport delivers messages. Send tries every message, in order, and
// returns the indexes of those the mail system accepted (an SMTP server's
// success reply to the end of DATA; a sendmail program's exit status 0),
// and an error when any was not.
type Transport interface {
	Send(ctx context.Context, msgs []*Message) (accepted []int, err error)
}

// StartTLS is how an SMTP connection is encrypted.
type StartTLS string

// The STARTTLS policies (the configuration's alerts.smtp.starttls).
const (
	// TLSRequired refuses a server that does not offer STARTTLS, or
	// whose certificate does not verify.
	TLSRequired StartTLS = "required"
	// TLSOpportunistic uses STARTTLS when the server offers it.
	TLSOpportunistic StartTLS = "opportunistic"
	// TLSNone never encrypts.
	TLSNone StartTLS = "none"
)

// SMTP delivers through an SMTP server (go-mail), with STARTTLS and
// authentication (the best mechanism the server offers, over TLS) when a
// Username is set.
type SMTP struct {
	Host     string
	Port     int
	StartTLS StartTLS
	// TLS verifies the server (its RootCAs: a private CA); nil uses the
	// system's roots and Host as the server's name.
	TLS                *tls.Config
	Username, Password string
	// Timeout bounds each network step (default 30s).
	Timeout time.Duration
}

// Send implements Transport: one connection for all the messages.
func (s *SMTP) Send(ctx context.Context, msgs []*Message) ([]int, error) {
	policy := mail.TLSMandatory
	switch s.StartTLS {
	case TLSOpportunistic:
		policy = mail.TLSOpportunistic
	case TLSNone:
		policy = mail.NoTLS
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	opts := []mail.Option{mail.WithPort(s.Port), mail.WithTLSPolicy(policy), mail.WithTimeout(timeout)}
	tc := s.TLS
	if tc == nil {
		tc = &tls.Config{}
	}
	tc = tc.Clone()
	if tc.ServerName == "" {
		tc.ServerName = s.Host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	opts = append(opts, mail.WithTLSConfig(tc))
	if s.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(s.Username), mail.WithPassword(s.Password))
	}
	c, err := mail.NewClient(s.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp %s:%d: %w", s.Host, s.Port, err)
	}
	if err := c.DialWithContext(ctx); err != nil {
		return nil, fmt.Errorf("smtp %s:%d: %w", s.Host, s.Port, err)
	}
	defer c.Close()
	var accepted []int
	var errs []error
	for i, m := range msgs {
		err := c.Send(m.msg)
		// go-mail marks a message delivered once the server accepted its
		// DATA, even when a later step (RSET) fails: it must not be sent
		// again.
		if m.msg.IsDelivered() {
			accepted = append(accepted, i)
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("smtp %s:%d: %s: %w", s.Host, s.Port, m.Alert.ID, err))
		}
	}
	return accepted, errors.Join(errs...)
}

// Sendmail delivers through a sendmail-compatible program: the message
// on its standard input, recipients read from its headers (-t), a line
// holding a single dot not ending it (-oi).
type Sendmail struct {
	// Path is the program (an absolute path).
	Path string
}

// Send implements Transport: one program run per message, accepted when
// the program exits 0 (whatever it writes on its standard error, which is
// quoted when it fails).
func (s *Sendmail) Send(ctx context.Context, msgs []*Message) ([]int, error) {
	var accepted []int
	var errs []error
	for i, m := range msgs {
		var in bytes.Buffer
		if _, err := m.msg.WriteTo(&in); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.Alert.ID, err))
			continue
		}
		cmd := exec.CommandContext(ctx, s.Path, "-i", "-t")
		cmd.Stdin = &in
		var stderr limitedBuffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			if msg := strings.TrimSpace(stderr.String()); msg != "" {
				err = fmt.Errorf("%w: %s", err, printable(msg))
			}
			errs = append(errs, fmt.Errorf("sendmail %s: %s: %w", s.Path, m.Alert.ID, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		accepted = append(accepted, i)
	}
	return accepted, errors.Join(errs...)
}

// limitedBuffer keeps the first 4 KiB written to it.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
