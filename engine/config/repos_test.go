package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRepos(t *testing.T) {
	p := write(t, `modules: [{name: a, source: {url: repo}}]
publish:
  repos: {signing_key: keys/repo.asc, passphrase_file: /etc/autobuild/repo.pass, timeout: 2m}
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Publish.Repos
	if r == nil || r.SigningKey != filepath.Join(filepath.Dir(p), "keys/repo.asc") || r.PassphraseFile != "/etc/autobuild/repo.pass" || r.Timeout != 2*time.Minute {
		t.Errorf("repos = %+v: want the key beside the config", r)
	}
	p = write(t, "modules: [{name: a, source: {url: repo}}]\n")
	if c, err := Load(p); err != nil || c.Publish.Repos != nil {
		t.Errorf("no repos: %+v, %v", c.Publish.Repos, err)
	}
}

func TestReposErrors(t *testing.T) {
	for _, tc := range []struct{ repos, want string }{
		{`{timeout: 1m}`, ":3: publish.repos.signing_key: is required"},
		{`{signing_key: k, timeout: -1m}`, "publish.repos.timeout: must not be negative"},
		{`{signing_key: k, key: x}`, "publish.repos.key: unknown key (known here: signing_key, passphrase_file, timeout)"},
	} {
		p := write(t, "modules: [{name: a, source: {url: repo}}]\npublish:\n  repos:\n    "+tc.repos+"\n")
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), p+":") {
			t.Errorf("repos %s: %v\nwant an error of %s saying %q", tc.repos, err, p, tc.want)
		}
	}
}
