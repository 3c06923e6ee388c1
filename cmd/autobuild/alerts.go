package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/engine/workspace"
	"github.com/autobuild/autobuild/publish"
	"github.com/autobuild/autobuild/publish/alert"
)

// newAlerts is the alert publisher the configuration's alerts: block
// describes (nil without one). It keeps its state in the build root's
// state/alerts. A password file or CA file it cannot use is a
// configuration error: the run does not start.
func newAlerts(cfg *config.Config, layout workspace.Layout) (publish.Publisher, error) {
	a := cfg.Alerts
	if a == nil {
		return nil, nil
	}
	o := alert.Options{
		Dir:      filepath.Join(layout.StateDir(), "alerts"),
		Mode:     alert.Mode(a.On),
		From:     a.From,
		To:       a.To,
		Groups:   a.Groups,
		Admins:   map[string][]string{},
		SiteURL:  cfg.Publish.URL,
		FilesURL: cfg.Publish.FilesURL,
		LogRoot:  layout.LogRoot(),
	}
	for _, m := range cfg.Modules {
		if len(m.Admins) > 0 {
			o.Admins[m.Name] = m.Admins
		}
	}
	if a.Sendmail != "" {
		o.Transport = &alert.Sendmail{Path: a.Sendmail}
	} else {
		s := a.SMTP
		pw, err := cfg.SMTPPassword()
		if err != nil {
			return nil, err
		}
		t := &alert.SMTP{Host: s.Host, Port: s.Port, StartTLS: alert.StartTLS(s.StartTLS), Username: s.Username, Password: pw}
		if s.CAFile != "" {
			pem, err := os.ReadFile(s.CAFile)
			if err != nil {
				return nil, &config.Error{File: cfg.File, Key: "alerts.smtp.ca_file", Msg: err.Error(), Err: err}
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, &config.Error{File: cfg.File, Key: "alerts.smtp.ca_file", Msg: fmt.Sprintf("%s holds no PEM certificate", s.CAFile)}
			}
			t.TLS = &tls.Config{RootCAs: pool}
		}
		o.Transport = t
	}
	p, err := alert.New(o)
	if err != nil {
		return nil, &config.Error{File: cfg.File, Key: "alerts", Msg: err.Error(), Err: err}
	}
	return p, nil
}
