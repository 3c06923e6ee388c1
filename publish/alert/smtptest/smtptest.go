// Package smtptest runs a real SMTP server (emersion/go-smtp) on loopback
// for the alert tests: STARTTLS with a certificate it makes for 127.0.0.1
// (its CA given to the client), AUTH PLAIN, and every message it accepted
// kept for the test to read.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options shape the server.
type Options struct {
	// TLS offers STARTTLS.
	TLS bool
	// Username and Password, when set, are required (AUTH PLAIN) before
	// any mail is accepted.
	Username, Password string
	// DropAfterData closes the connection right after the server
	// answered a message's end of DATA with success.
	DropAfterData bool
}

// Mail is one message the server accepted.
type Mail struct {
	From string
	To   []string
	Data []byte
	// TLS tells whether the connection was encrypted; User is who
	// authenticated ("" for nobody).
	TLS  bool
	User string
}

// Header is the message's parsed header.
func (m Mail) Header(t testing.TB) mail.Header {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("smtptest: unreadable message: %v\n%s", err, m.Data)
	}
	return msg.Header
}

// Body is the message's body, quoted-printable decoded when it says so,
// with its lines ended by \n.
func (m Mail) Body(t testing.TB) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("smtptest: unreadable message: %v", err)
	}
	var r io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("smtptest: body: %v", err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

// Server is a running server.
type Server struct {
	Host string
	Port int
	// CAPEM is the certificate that verifies the server (PEM); CA holds it.
	CAPEM []byte
	CA    *x509.CertPool

	o   Options
	srv *smtp.Server
	mu  sync.Mutex
	got []Mail
}

// Start starts a server on 127.0.0.1 and stops it when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{o: o, Host: "127.0.0.1"}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, c: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxMessageBytes = 1 << 20
	srv.ErrorLog = nopLogger{}
	if o.TLS {
		cert, pemBytes := selfSigned(t)
		s.CAPEM = pemBytes
		s.CA = x509.NewCertPool()
		s.CA.AppendCertsFromPEM(pemBytes)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Port = l.Addr().(*net.TCPAddr).Port
	s.srv = srv
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

// Mails returns the messages accepted so far.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.got...)
}

// Stop stops the server: its port refuses connections from then on.
func (s *Server) Stop() { s.srv.Close() }

// ClosedPort is a loopback port nothing listens on (it was, a moment ago,
// one of this test's own).
func ClosedPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p
}

type session struct {
	s         *Server
	c         *smtp.Conn
	user      string
	from      string
	to        []string
	delivered bool
}

func (x *session) AuthMechanisms() []string {
	if x.s.o.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != x.s.o.Username || password != x.s.o.Password {
			return errors.New("invalid credentials")
		}
		x.user = username
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.o.Username != "" && x.user == "" {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := x.c.TLSConnectionState()
	x.s.mu.Lock()
	x.s.got = append(x.s.got, Mail{From: x.from, To: x.to, Data: b, TLS: isTLS, User: x.user})
	x.s.mu.Unlock()
	x.delivered = true
	return nil
}

// Reset runs after the success reply to DATA has been written (and on
// RSET): the place to drop the connection of an accepted message.
func (x *session) Reset() {
	if x.delivered && x.s.o.DropAfterData {
		x.c.Conn().Close()
	}
	x.delivered = false
	x.from, x.to = "", nil
}

func (x *session) Logout() error { return nil }

type nopLogger struct{}

func (nopLogger) Printf(string, ...interface{}) {}
func (nopLogger) Println(...interface{})        {}

// selfSigned makes a certificate for 127.0.0.1 and localhost, its own CA.
func selfSigned(t testing.TB) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemBytes
}
