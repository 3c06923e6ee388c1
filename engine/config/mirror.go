package config

import (
	"fmt"
	"time"

	"github.com/autobuild/autobuild/publish/mirror"
)

// Mirror is a copy of the live site on another host, made with rsync
// after the site is published (package publish/mirror).
type Mirror struct {
	// To is rsync://[user@]host[:port]/module[/path] (an rsync daemon) or
	// [user@]host:path (over a remote shell). The folder is the mirror's:
	// what the site does not hold is deleted there.
	To string `config:"to"`
	// PasswordFile holds the daemon's password (rsync:// only); only its
	// owner may read it. Relative to the config file.
	PasswordFile string `config:"password_file"`
	// RSH is the remote shell of a host:path destination (default
	// "ssh -o BatchMode=yes"), split into words, never read by a shell.
	RSH string `config:"rsh"`
	// Timeout bounds one transfer (default 1h).
	Timeout time.Duration `config:"timeout"`
}

// mirrors checks publish.mirrors; nothing here reads the password files
// (the mirror checks them when it runs).
func (l *loader) mirrors(c *Config, abs func(string) string) error {
	seen := map[string]int{}
	for i := range c.Publish.Mirrors {
		m := &c.Publish.Mirrors[i]
		key := fmt.Sprintf("publish.mirrors[%d]", i)
		dest, err := mirror.ParseDest(m.To)
		if err != nil {
			return l.err(key+".to", "%v", err)
		}
		if j, dup := seen[dest.Arg]; dup {
			return l.err(key+".to", "%s is the destination of publish.mirrors[%d] too", m.To, j)
		}
		seen[dest.Arg] = i
		switch {
		case m.PasswordFile != "" && !dest.Daemon:
			return l.err(key+".password_file", "only an rsync:// destination has a password (over ssh, give the key in rsh: ssh -i …)")
		case m.RSH != "" && dest.Daemon:
			return l.err(key+".rsh", "only a host:path destination goes through a remote shell, not rsync://")
		case m.RSH != "":
			if err := mirror.CheckRSH(m.RSH); err != nil {
				return l.err(key+".rsh", "%v", err)
			}
		}
		if m.Timeout < 0 {
			return l.err(key+".timeout", "must not be negative")
		}
		if m.Timeout == 0 {
			m.Timeout = mirror.DefaultTimeout
		}
		m.PasswordFile = abs(m.PasswordFile)
	}
	return nil
}
