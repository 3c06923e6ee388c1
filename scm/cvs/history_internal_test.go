package cvs

import "testing"

// The repository's path is what the server's rlog names files by.
func TestRepositoryPath(t *testing.T) {
	for root, want := range map[string]string{
		"/srv/cvs":                                  "/srv/cvs",
		":pserver:anon@cvs.example.org:/cvs":        "/cvs",
		":pserver:anon@cvs.example.org:2401/cvs/":   "/cvs",
		":pserver:cvs.example.org:/var/lib/cvs":     "/var/lib/cvs",
		":ext:me@host:/home/cvs":                    "/home/cvs",
		":ext;CVS_RSH=ssh:me@host:/home/cvs":        "/home/cvs",
		":fork:/srv/cvs":                            "/srv/cvs",
		":pserver;port=2401:me:secret@host:/x/root": "/x/root",
	} {
		r, err := ParseURL(root + "#mod")
		if err != nil {
			t.Errorf("ParseURL(%q): %v", root, err)
			continue
		}
		if got := repositoryPath(r); got != want {
			t.Errorf("repositoryPath(%q) = %q, want %q", root, got, want)
		}
	}
}
