package config

import (
	"path/filepath"

	"github.com/autobuild/autobuild/publish"
)

// templates checks publish.templates, the folder of the admin's page
// templates: each one there is parsed as the site will parse it on every
// publish (publish.LoadTemplates), so that a template that does not parse
// is refused when the configuration loads, naming the template's file and
// line after the key's. Unlike validate, this reads the disk (the folder
// and its templates).
func (l *loader) templates(c *Config) error {
	if c.Publish.Templates == "" {
		return nil
	}
	if !filepath.IsAbs(c.Publish.Templates) {
		c.Publish.Templates = filepath.Join(filepath.Dir(l.file), c.Publish.Templates)
	}
	c.Publish.Templates = filepath.Clean(c.Publish.Templates)
	if _, err := publish.LoadTemplates(c.Publish.Templates); err != nil {
		return l.wrap(l.err("publish.templates", "%v", err), err)
	}
	return nil
}
