package tabconf

import (
	"bytes"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
)

// Mail alerts. Test-AutoBuild 1.2 mailed through its EmailAlert stage,
// on when features/email_alerts (1.2.0: enableAlerts) is true, set by the
// alert block:
//
//   - to: a comma-separated list of addresses and the words admin and
//     group (default admin): the build's administrator or developer
//     group (adminEmail and adminName, groupEmail and groupName), or
//     with scope = module each module's own (its adminEmail, …, else the
//     build's);
//   - scope: builder (one mail for the whole run, the default) or module
//     (one per module);
//   - trigger: first-fail (a module that failed after it had built, the
//     default), fail (every run in which one fails) or always;
//   - from (default: the engine's Unix user at the machine's host name)
//     and smtpServer (default localhost), through Net::SMTP without TLS.
//
// Test-AutoBuild 1.0 mailed through an output of module
// Test::AutoBuild::Output::EmailAlert: its options addresses (comma-
// separated), sender and smtp_server, on every run in which a module
// failed.
//
// They become alerts: to (the addresses, and admin or group of the
// build), a module's admins: (admin or group with scope = module), on:
// (change for first-fail, digest for first-fail with the builder's one
// mail, failure for fail and for 1.0), from and smtp: {host, port,
// starttls: opportunistic}. What has no equivalent (trigger = always, a
// sender autobuild must be told) is named; alerts that cannot be carried
// over at all (no sender, nobody to mail) are named as a whole, with the
// reason, and no alerts: is written.

// alertsOut is the alerts: block the import writes.
type alertsOut struct {
	from, on string
	to       []string
	host     string
	port     int
}

// alerts carries over the mail alerts, if they were on.
func (t *translation) alerts() error {
	r := t.root
	var on *Node
	onSetting := ""
	for _, p := range []string{"features/email_alerts", "enableAlerts"} {
		n := t.at(p)
		if n == nil {
			continue
		}
		s, err := t.text(n, p)
		if err != nil {
			return err
		}
		if !truth(s) {
			// Off: what the alert block says does not matter.
			consume(r.Get("alert"))
			return nil
		}
		on, onSetting = n, p
	}
	if out := r.Get("output"); out != nil && out.Kind == Map {
		for i, name := range out.Keys {
			o := out.Vals[i]
			if m := o.Get("module"); o.Kind == Map && m != nil && m.Kind == Text && m.Text == "Test::AutoBuild::Output::EmailAlert" {
				out.used = true
				return t.alerts10(o, "output/"+name)
			}
		}
	}
	if on == nil {
		return nil
	}
	return t.alerts12(on, onSetting)
}

// alerts12 carries over Test-AutoBuild 1.2's alerts, switched on by the
// setting at on.
func (t *translation) alerts12(on *Node, onSetting string) error {
	a := t.root.Get("alert")
	if a != nil {
		if err := t.shape(a, Map, "alert"); err != nil {
			return err
		}
	}
	opt := func(k string) (string, *Node, error) {
		s, n, err := t.optText(a, "alert", k)
		return strings.TrimSpace(s), n, err
	}
	// Nothing is used before everything is known to carry over.
	var vals [5]string
	var nodes [5]*Node
	for i, k := range []string{"to", "scope", "trigger", "from", "smtpServer"} {
		s, n, err := opt(k)
		if err != nil {
			return err
		}
		vals[i], nodes[i] = s, n
		if n != nil {
			n.used = false
		}
	}
	to, scope, trigger, from, server := vals[0], vals[1], vals[2], vals[3], vals[4]
	toN, scopeN, triggerN, fromN, serverN := nodes[0], nodes[1], nodes[2], nodes[3], nodes[4]
	drop := func(why string) error {
		on.used = true
		t.note(on, onSetting, why)
		if a != nil {
			t.whole(a, why)
		}
		return nil
	}
	out := &alertsOut{}
	if fromN == nil {
		return drop("autobuild needs the sender's address (alerts.from), which Test-AutoBuild took from its Unix user and the machine's host name: set alert/from, or write alerts: yourself")
	}
	if msg := checkAddress(from); msg != "" {
		return drop("alert/from: " + msg)
	}
	out.from = from
	if serverN == nil {
		server = "localhost" // Test-AutoBuild's default
	}
	host, port, msg := smtpServer(server)
	if msg != "" {
		return drop("alert/smtpServer: " + msg)
	}
	out.host, out.port = host, port

	perModule := strings.EqualFold(scope, "module")
	// first-fail, the default: a mail a module, or one a run.
	out.on = "digest"
	if perModule {
		out.on = "change"
	}
	switch strings.ToLower(trigger) {
	case "", "first-fail":
	case "fail":
		out.on = "failure"
		if !perModule && scopeN != nil {
			t.note(scopeN, "alert/scope", "with trigger = fail autobuild mails each failing module on its own (on: failure); its one mail a run (on: digest) comes only for runs in which a module broke or was fixed")
		}
	case "always":
		t.note(triggerN, "alert/trigger", "autobuild mails only about modules that broke or were fixed, or still fail (on: failure): never for a run in which nothing failed ("+out.on+" here)")
	default:
		t.note(triggerN, "alert/trigger", fmt.Sprintf("Test-AutoBuild knew always, fail and first-fail, not %q (on: %s here, its default)", trigger, out.on))
	}

	// The recipients: to, default admin.
	if toN == nil {
		to = "admin"
	}
	admins := map[*module][]string{}
	var unknown []string
	for _, addr := range strings.Split(to, ",") {
		addr = strings.TrimSpace(addr)
		switch w := strings.ToLower(addr); {
		case addr == "":
		case w == "admin" || w == "group":
			if !perModule {
				p, msg := t.person(t.root, "", w)
				if msg != "" {
					unknown = append(unknown, msg)
					continue
				}
				out.to = appendNew(out.to, p)
				continue
			}
			for _, m := range t.mods {
				if m.skip != "" {
					continue
				}
				p, msg := t.person(m.node, "modules/"+m.name+"/", w)
				if p == "" && msg == "" {
					// Test-AutoBuild's fallback: the build's.
					if p, msg = t.person(t.root, "", w); msg != "" {
						msg = "module " + m.name + ": " + msg
					}
				}
				if msg != "" {
					unknown = append(unknown, msg)
					continue
				}
				admins[m] = appendNew(admins[m], p)
			}
		default:
			if msg := checkAddress(addr); msg != "" {
				unknown = append(unknown, msg)
				continue
			}
			out.to = appendNew(out.to, addr)
		}
	}
	if len(out.to) == 0 && len(admins) == 0 {
		why := "it names nobody autobuild can mail"
		if len(unknown) > 0 {
			why += ": " + strings.Join(unknown, "; ")
		}
		return drop("alert/to: " + why)
	}
	if len(unknown) > 0 {
		t.note(toN, "alert/to", "left out: "+strings.Join(unknown, "; "))
	}
	for _, n := range []*Node{on, a, toN, scopeN, triggerN, fromN, serverN} {
		if n != nil {
			n.used = true
		}
	}
	for m, p := range admins {
		m.admins = p
	}
	t.mail = out
	return nil
}

// alerts10 carries over Test-AutoBuild 1.0's EmailAlert output o, at
// setting set.
func (t *translation) alerts10(o *Node, set string) error {
	if err := t.shape(o, Map, set); err != nil {
		return err
	}
	o.Get("module").used = true
	opts := o.Get("options")
	if opts != nil {
		if err := t.shape(opts, Map, set+"/options"); err != nil {
			return err
		}
	}
	opt := func(k string) (string, *Node, error) {
		s, n, err := t.optText(opts, set+"/options", k)
		return strings.TrimSpace(s), n, err
	}
	var vals [3]string
	for i, k := range []string{"addresses", "sender", "smtp_server"} {
		s, n, err := opt(k)
		if err != nil {
			return err
		}
		if n == nil {
			// Test-AutoBuild refused to run without it.
			t.whole(o, fmt.Sprintf("it has no options/%s, without which Test-AutoBuild did not mail", k))
			return nil
		}
		vals[i] = s
	}
	out := &alertsOut{on: "failure", from: vals[1]}
	if msg := checkAddress(out.from); msg != "" {
		t.whole(o, "options/sender: "+msg)
		return nil
	}
	var msg string
	if out.host, out.port, msg = smtpServer(vals[2]); msg != "" {
		t.whole(o, "options/smtp_server: "+msg)
		return nil
	}
	var bad []string
	for _, addr := range strings.Split(vals[0], ",") {
		addr = strings.TrimSpace(addr)
		if addr == "" {
			continue
		}
		if msg := checkAddress(addr); msg != "" {
			bad = append(bad, msg)
			continue
		}
		out.to = appendNew(out.to, addr)
	}
	if len(out.to) == 0 {
		t.whole(o, "options/addresses names nobody autobuild can mail")
		return nil
	}
	o.used = true
	opts.used = true
	for _, k := range []string{"addresses", "sender", "smtp_server"} {
		opts.Get(k).used = true
	}
	if len(bad) > 0 {
		t.note(opts.Get("addresses"), set+"/options/addresses", "left out: "+strings.Join(bad, "; "))
	}
	if s, n, err := opt("send-on-success"); err != nil {
		return err
	} else if n != nil && strings.EqualFold(s, "true") {
		t.note(n, set+"/options/send-on-success", "autobuild mails only about modules that fail, never for a run in which none did")
	} else if n != nil {
		n.used = true
	}
	if l := o.Get("label"); l != nil && l.Kind == Text {
		l.used = true
	}
	t.mail = out
	return nil
}

// person is the address of the build's or a module's administrator
// (who is "admin") or developer group ("group"), as node n (at setting
// prefix set) names them: "Name <email>", or the email alone; "" when n
// names no email. msg says why an email named is not taken, or, for the
// build's (set ""), that there is none.
func (t *translation) person(n *Node, set, who string) (addr, msg string) {
	get := func(what string) (string, *Node) {
		// 1.2's adminEmail, its engine file's admin-email.
		for _, k := range []string{who + what, who + "-" + strings.ToLower(what), who + "_" + strings.ToLower(what)} {
			if v := n.Get(k); v != nil && v.Kind == Text {
				return strings.TrimSpace(v.Text), v
			}
		}
		return "", nil
	}
	email, en := get("Email")
	switch {
	case email == "" && set == "":
		return "", fmt.Sprintf("%s: %sEmail is not set", who, who)
	case email == "":
		return "", ""
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Name != "" || strings.ContainsAny(email, "\r\n\x00") {
		return "", fmt.Sprintf("%s: %s%sEmail %q is not a mail address", who, set, who, email)
	}
	en.used = true
	name, nn := get("Name")
	if nn != nil {
		nn.used = true
	}
	if name == "" {
		return email, ""
	}
	return (&mail.Address{Name: name, Address: email}).String(), ""
}

// checkAddress is engine/config's rule for an alert address: one RFC
// 5322 address, on one line.
func checkAddress(a string) string {
	if strings.ContainsAny(a, "\r\n\x00") {
		return fmt.Sprintf("%q holds a line break", a)
	}
	if _, err := mail.ParseAddress(a); err != nil {
		return fmt.Sprintf("%q is not a mail address", a)
	}
	return ""
}

// smtpServer splits Net::SMTP's host[:port]; msg says why it is not one
// autobuild takes.
func smtpServer(s string) (host string, port int, msg string) {
	host = s
	if h, p, ok := strings.Cut(s, ":"); ok && !strings.Contains(p, ":") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", 0, fmt.Sprintf("%q: the port must be from 1 to 65535", s)
		}
		host, port = h, n
	}
	if host == "" || strings.ContainsAny(host, " /@\t\r\n\x00:") {
		return "", 0, fmt.Sprintf("%q is not a host name or address", s)
	}
	return host, port, ""
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// write writes the alerts: block.
func (a *alertsOut) write(b *bytes.Buffer) {
	b.WriteString("# Test-AutoBuild's mail alerts. Its Net::SMTP sent without TLS: opportunistic\n")
	b.WriteString("# uses STARTTLS where the server offers it (required refuses a server without).\n")
	b.WriteString("alerts:\n")
	fmt.Fprintf(b, "  from: %s\n", yamlString(a.from))
	if len(a.to) > 0 {
		b.WriteString("  to:\n")
		for _, to := range a.to {
			fmt.Fprintf(b, "    - %s\n", yamlString(to))
		}
	}
	fmt.Fprintf(b, "  on: %s\n", a.on)
	fmt.Fprintf(b, "  smtp:\n    host: %s\n", yamlString(a.host))
	if a.port != 0 {
		fmt.Fprintf(b, "    port: %d\n", a.port)
	}
	b.WriteString("    starttls: opportunistic\n")
}
