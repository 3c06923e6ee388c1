package fossil

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/autobuild/autobuild/scm"
)

// ResolveAt implements scm.SCM. A tag or commit pin is Resolve's. A
// branch (trunk by default) is fetched into the clone in d.Meta (cloned,
// or pulled from the Source's URL, as Checkout does; a clone the pull
// fails on is replaced once), then the clone is asked for the newest
// check-in tagged with the branch (the check-in Resolve would name then)
// whose time is at or before at.
func (Fossil) ResolveAt(ctx context.Context, src scm.Source, at time.Time, d scm.Dirs) (scm.Revision, error) {
	if err := (Fossil{}).Validate(src); err != nil {
		return scm.Revision{}, err
	}
	if src.Commit != "" || src.Tag != "" {
		return Fossil{}.Resolve(ctx, src)
	}
	if err := d.Validate(); err != nil {
		return scm.Revision{}, err
	}
	url, err := repoFile(src)
	if err != nil {
		return scm.Revision{}, err
	}
	if err := os.MkdirAll(d.Meta, 0o755); err != nil {
		return scm.Revision{}, err
	}
	home, err := freshHome(d)
	if err != nil {
		return scm.Revision{}, err
	}
	err = fetch(ctx, home, url, d, "")
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "autobuild scm: fossil pull failed (%v); starting %s afresh\n", err, d.Meta)
		if rerr := forget(d); rerr != nil {
			return scm.Revision{}, fmt.Errorf("%w (and emptying %s: %v)", err, d.Meta, rerr)
		}
		err = fetch(ctx, home, url, d, "")
	}
	if err != nil {
		return scm.Revision{}, err
	}
	branch := src.Branch
	if branch == "" {
		branch = "trunk"
	}
	// A check-in is on a branch when its "branch" tag has the branch's
	// name; whatis names the newest check-in carrying the branch's
	// symbolic tag (sym-NAME). Both tags propagate together.
	var rows []struct {
		OnBranch int    `json:"on_branch"`
		UUID     string `json:"uuid"`
		Oldest   string `json:"oldest"`
	}
	q := fmt.Sprintf(`SELECT
 (SELECT count(*) FROM tagxref x JOIN tag t ON t.tagid=x.tagid
   WHERE t.tagname='branch' AND x.value=%[1]s AND x.tagtype>0) AS on_branch,
 (SELECT b.uuid FROM tag t JOIN tagxref x ON x.tagid=t.tagid JOIN event e ON e.objid=x.rid JOIN blob b ON b.rid=e.objid
   WHERE t.tagname='sym-'||%[1]s AND x.tagtype>0 AND e.type='ci' AND e.mtime<=julianday(%[2]s)
   ORDER BY e.mtime DESC LIMIT 1) AS uuid,
 (SELECT strftime('%%Y-%%m-%%d %%H:%%M:%%S UTC', min(e.mtime)) FROM tag t JOIN tagxref x ON x.tagid=t.tagid JOIN event e ON e.objid=x.rid
   WHERE t.tagname='sym-'||%[1]s AND x.tagtype>0 AND e.type='ci') AS oldest`,
		quote(branch), quote(at.UTC().Format("2006-01-02 15:04:05.000")))
	if err := query(ctx, home, filepath.Join(d.Meta, cloneFile), q, &rows); err != nil {
		return scm.Revision{}, err
	}
	if len(rows) != 1 {
		return scm.Revision{}, fmt.Errorf("%s: the clone's query gave %d rows", src.URL, len(rows))
	}
	r := rows[0]
	switch {
	case r.OnBranch == 0:
		return scm.Revision{}, fmt.Errorf("%s: no branch %s", src.URL, branch)
	case r.UUID == "":
		return scm.Revision{}, fmt.Errorf("%s: branch %s: %w (%s; its oldest check-in is of %s)",
			src.URL, branch, scm.ErrNoRevisionAt, at.UTC().Format(time.RFC3339), r.Oldest)
	case !hashRE.MatchString(r.UUID):
		return scm.Revision{}, fmt.Errorf("%s: branch %s: %q is not a check-in hash", src.URL, branch, r.UUID)
	}
	return scm.Revision{ID: r.UUID}, nil
}

// Changes implements scm.SCM, from the clone in d.Meta (which a Checkout
// of to leaves holding to): the check-ins that are ancestors of to (to
// included, through every parent, merged ones too) and not of from,
// newest first by check-in time. The empty check-in fossil init makes
// (no parent, no file) is left out. A check-in's files are those it
// added, changed, removed or renamed (both names) against its primary
// parent.
func (Fossil) Changes(ctx context.Context, src scm.Source, d scm.Dirs, from, to scm.Revision, max int) ([]scm.Change, error) {
	if !hashRE.MatchString(to.ID) {
		return nil, fmt.Errorf("revision %q is not a full check-in hash", to.ID)
	}
	if from.ID != "" && !hashRE.MatchString(from.ID) {
		return nil, fmt.Errorf("revision %q is not a full check-in hash", from.ID)
	}
	if max <= 0 {
		return nil, nil
	}
	clone := filepath.Join(d.Meta, cloneFile)
	if st, err := os.Lstat(clone); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s holds no Fossil clone: check out %s first", d.Meta, to.ID)
	}
	home, done, err := tempHome()
	if err != nil {
		return nil, err
	}
	defer done()

	var ids []struct {
		To   int64 `json:"to"`
		From int64 `json:"from"`
	}
	q := fmt.Sprintf(`SELECT
 coalesce((SELECT b.rid FROM blob b JOIN event e ON e.objid=b.rid WHERE b.uuid=%s AND e.type='ci'), 0) AS "to",
 coalesce((SELECT b.rid FROM blob b JOIN event e ON e.objid=b.rid WHERE b.uuid=%s AND e.type='ci'), 0) AS "from"`,
		quote(to.ID), quote(from.ID))
	if err := query(ctx, home, clone, q, &ids); err != nil {
		return nil, err
	}
	if len(ids) != 1 || ids[0].To == 0 {
		return nil, fmt.Errorf("%s: the clone in %s holds no check-in %s", src.URL, d.Meta, to.ID)
	}

	// Text comes hex-encoded: exactly its bytes, whatever they are.
	var rows []struct {
		UUID    string `json:"uuid"`
		User    string `json:"user"`
		Date    string `json:"date"`
		Comment string `json:"comment"`
		Files   string `json:"files"`
	}
	q = fmt.Sprintf(`WITH RECURSIVE
 anc(rid) AS (SELECT %[1]d UNION SELECT p.pid FROM plink p JOIN anc ON p.cid=anc.rid),
 old(rid) AS (SELECT %[2]d WHERE %[2]d IN anc UNION SELECT p.pid FROM plink p JOIN old ON p.cid=old.rid)
SELECT b.uuid AS uuid, hex(coalesce(e.euser, e.user, '')) AS user,
 strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', e.mtime) AS date,
 hex(coalesce(e.ecomment, e.comment, '')) AS comment,
 (SELECT json_group_array(hex(n)) FROM (
   SELECT f.name AS n FROM mlink m JOIN filename f ON f.fnid=m.fnid WHERE m.mid=e.objid AND NOT m.isaux
   UNION SELECT f.name FROM mlink m JOIN filename f ON f.fnid=m.pfnid WHERE m.mid=e.objid AND NOT m.isaux)) AS files
FROM anc JOIN event e ON e.objid=anc.rid JOIN blob b ON b.rid=anc.rid
WHERE e.type='ci' AND anc.rid NOT IN old
 AND (EXISTS (SELECT 1 FROM plink WHERE cid=e.objid) OR EXISTS (SELECT 1 FROM mlink WHERE mid=e.objid))
ORDER BY e.mtime DESC LIMIT %[3]d`, ids[0].To, ids[0].From, max)
	if err := query(ctx, home, clone, q, &rows); err != nil {
		return nil, err
	}
	cs := make([]scm.Change, 0, len(rows))
	for _, r := range rows {
		user, err1 := unhex(r.User)
		comment, err2 := unhex(r.Comment)
		date, err3 := time.Parse(time.RFC3339Nano, r.Date)
		var hexFiles []string
		err4 := json.Unmarshal([]byte(r.Files), &hexFiles)
		files := make([]string, 0, len(hexFiles))
		var err5 error
		for _, h := range hexFiles {
			f, err := unhex(h)
			if err != nil {
				err5 = err
			}
			files = append(files, f)
		}
		for _, err := range []error{err1, err2, err3, err4, err5} {
			if err != nil {
				return nil, fmt.Errorf("%s: check-in %s: %w", src.URL, r.UUID, err)
			}
		}
		c := scm.Change{ID: r.UUID, Author: user, Date: date.UTC(), Subject: scm.Subject(comment)}
		c.SetFiles(files)
		cs = append(cs, c)
	}
	return cs, nil
}

// query runs the SQL query q on the repository file repo, read-only,
// and decodes its rows (JSON objects, one per row) into rows. The shell
// reports an error in q only on its standard error, which must be empty.
func query(ctx context.Context, home, repo, q string, rows any) error {
	out, errOut, err := run2(ctx, home, "/", "sql", "-R", repo, "--readonly", "-json", q)
	if err != nil || strings.TrimSpace(errOut) != "" {
		if err == nil {
			err = fmt.Errorf("query failed")
		}
		return fmt.Errorf("fossil sql on %s: %w: %s", repo, err, strings.TrimSpace(errOut+"\n"+out))
	}
	if strings.TrimSpace(out) == "" {
		out = "[]" // no rows
	}
	if err := json.Unmarshal([]byte(out), rows); err != nil {
		return fmt.Errorf("fossil sql on %s: %w", repo, err)
	}
	return nil
}

// quote is s as an SQL string literal.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func unhex(s string) (string, error) {
	b, err := hex.DecodeString(s)
	return string(b), err
}
