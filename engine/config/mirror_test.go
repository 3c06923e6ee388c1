package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMirrors(t *testing.T) {
	p := write(t, `modules: [{name: a, source: {url: repo}}]
publish:
  mirrors:
    - to: rsync://mirror@backup.example:8873/site/www
      password_file: secrets/mirror.pw
    - {to: "builder@web.example:/srv/www", rsh: "ssh -i /etc/autobuild/id_mirror", timeout: 10m}
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	m := c.Publish.Mirrors
	if len(m) != 2 {
		t.Fatalf("mirrors = %+v", m)
	}
	if m[0].PasswordFile != filepath.Join(filepath.Dir(p), "secrets/mirror.pw") || m[0].Timeout != time.Hour {
		t.Errorf("mirrors[0] = %+v: want the password file beside the config, the default timeout", m[0])
	}
	if m[1].RSH != "ssh -i /etc/autobuild/id_mirror" || m[1].Timeout != 10*time.Minute {
		t.Errorf("mirrors[1] = %+v", m[1])
	}
}

func TestMirrorErrors(t *testing.T) {
	for _, tc := range []struct{ mirrors, want string }{
		{`[{password_file: pw}]`, ":4: publish.mirrors[0].to: missing"},
		{`[{to: /srv/www}]`, ":4: publish.mirrors[0].to: \"/srv/www\" is a local path"},
		{`[{to: "host::module"}]`, "publish.mirrors[0].to: \"host::module\": for an rsync daemon write rsync://host/module"},
		{`[{to: "rsync://u:secret@h/m"}]`, "publish.mirrors[0].to: \"rsync://u:secret@h/m\" holds a password: give it in password_file"},
		{`[{to: "-oProxyCommand=x:/srv"}]`, "publish.mirrors[0].to: \"-oProxyCommand=x:/srv\": a host may not start with '-'"},
		{`[{to: "h:/"}]`, "publish.mirrors[0].to: \"h:/\": / is not a folder of its own"},
		{`[{to: "h:/srv", password_file: pw}]`, "publish.mirrors[0].password_file: only an rsync:// destination has a password"},
		{`[{to: "rsync://h/m", rsh: ssh}]`, "publish.mirrors[0].rsh: only a host:path destination"},
		{`[{to: "h:/srv", rsh: " "}]`, "publish.mirrors[0].rsh: is empty"},
		{`[{to: "h:/srv", rsh: "-i key"}]`, "publish.mirrors[0].rsh: \"-i key\": the first word is the program"},
		{`[{to: "h:/srv", timeout: 10}]`, "publish.mirrors[0].timeout"},
		{`[{to: "h:/srv", timeout: -1m}]`, "publish.mirrors[0].timeout: must not be negative"},
		{`[{to: "rsync://h/m/x"}, {to: "rsync://h/m/x/"}]`, "publish.mirrors[1].to: rsync://h/m/x/ is the destination of publish.mirrors[0] too"},
		{`[{to: "h:/srv", user: x}]`, "publish.mirrors[0].user: unknown key (known here: to, password_file, rsh, timeout)"},
		{`{to: "h:/srv"}`, "publish.mirrors"},
	} {
		p := write(t, "modules: [{name: a, source: {url: repo}}]\npublish:\n  mirrors:\n    "+tc.mirrors+"\n")
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), p+":") {
			t.Errorf("mirrors %s: %v\nwant an error of %s saying %q", tc.mirrors, err, p, tc.want)
		}
	}
}
