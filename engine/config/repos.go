package config

import "time"

// Repos publishes the run's .deb and .rpm packages as a signed apt
// repository and a signed yum repository inside the site (package
// publish/repo).
type Repos struct {
	// SigningKey is the OpenPGP secret key that signs the indexes
	// (ASCII-armored or binary), readable by its owner only. Relative to
	// the config file. It is read on every run, so a key that cannot be
	// read fails only the repositories.
	SigningKey string `config:"signing_key"`
	// PassphraseFile holds the key's passphrase (its first line), when
	// the key has one; readable by its owner only.
	PassphraseFile string `config:"passphrase_file"`
	// Timeout bounds createrepo_c (default 10m).
	Timeout time.Duration `config:"timeout"`
}

// repos checks publish.repos.
func (l *loader) repos(c *Config, abs func(string) string) error {
	r := c.Publish.Repos
	if r == nil {
		return nil
	}
	if r.SigningKey == "" {
		return l.err("publish.repos.signing_key", "is required: the repositories are signed")
	}
	if r.Timeout < 0 {
		return l.err("publish.repos.timeout", "must not be negative")
	}
	r.SigningKey = abs(r.SigningKey)
	r.PassphraseFile = abs(r.PassphraseFile)
	return nil
}
