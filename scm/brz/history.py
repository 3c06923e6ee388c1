# What autobuild's brz backend (history.go) reads of a branch's past,
# through Breezy's own API: brz prints history only as text for people.
# It reads the branch in the metadata folder and writes nothing. One
# JSON object goes to stdout; a failure is one line on stderr and exit
# status 1.
#
#   at BRANCH TIP MICROS    the newest revision of TIP's mainline (first
#                           parents) whose timestamp is at or before MICROS
#                           (microseconds since the epoch):
#                           {"id": ID} or {"id": null}; {"missing": true}
#                           when the branch's repository lacks TIP
#   changes BRANCH TO FROM MAX MAXFILES
#                           the revisions of TO's ancestry that are not
#                           FROM's (all of it when FROM is "" or not an
#                           ancestor of TO), in brz log's order (merge
#                           sorted, newest first), at most MAX:
#                           {"changes": [{"id", "author", "micros",
#                           "message", "files", "omitted"}]}, each
#                           with its first MAXFILES files (sorted) and
#                           the number of the others
import json
import sys


def main(argv):
    import breezy
    with breezy.initialize(setup_ui=False):
        import breezy.bzr  # noqa: F401 (the formats brz itself knows)
        import breezy.git  # noqa: F401
        from breezy import branch, urlutils
        b = branch.Branch.open(urlutils.local_path_to_url(argv[1]))
        with b.lock_read():
            repo = b.repository
            if argv[0] == "at":
                return at(repo, argv[2].encode(), int(argv[3]))
            if argv[0] == "changes":
                return changes(repo, argv[2].encode(), argv[3].encode(), int(argv[4]), int(argv[5]))
    raise ValueError("unknown operation %r" % argv[0])


def micros(rev):
    return int(round(rev.timestamp * 1e6))


def parents(repo, revid):
    """revid's parents (none for a ghost, or a revision with none)."""
    from breezy.revision import NULL_REVISION
    ps = repo.get_parent_map([revid]).get(revid) or ()
    return [p for p in ps if p != NULL_REVISION]


def at(repo, tip, limit):
    if not repo.has_revision(tip):
        return {"missing": True}
    revid = tip
    while revid is not None:
        # A revision's timestamp is read one at a time: the walk stops at
        # the first old enough, most often the tip or close to it.
        if micros(repo.get_revision(revid)) <= limit:
            return {"id": revid.decode("utf-8", "replace")}
        ps = parents(repo, revid)
        revid = ps[0] if ps and repo.has_revision(ps[0]) else None
    return {"id": None}


def changes(repo, to, frm, limit, max_files):
    from breezy import tsort
    from breezy.revision import NULL_REVISION
    if not repo.has_revision(to):
        raise LookupError("revision %s is not in the branch: check it out first" % to.decode("utf-8", "replace"))
    if limit <= 0:
        return {"changes": []}
    graph = repo.get_graph()
    stop = None
    if frm and repo.has_revision(frm) and graph.is_ancestor(frm, to):
        stop = frm
    else:
        # The newest limit revisions in brz log's order all lie within the
        # first limit revisions of the mainline and what they merged.
        revid, n = to, 0
        while revid is not None and n < limit:
            ps = parents(repo, revid)
            revid, n = (ps[0] if ps else None), n + 1
        stop = revid or NULL_REVISION
    unique = graph.find_unique_ancestors(to, [stop])
    if not unique:
        return {"changes": []}
    pmap = graph.get_parent_map(unique)
    sub = {r: [p for p in pmap.get(r, ()) if p in unique] for r in unique}
    order = [node[1] for node in tsort.merge_sort(sub, to)][:limit]
    out = []
    for rev in repo.get_revisions(order):
        old = rev.parent_ids[0] if rev.parent_ids else NULL_REVISION
        if old != NULL_REVISION and not repo.has_revision(old):
            old = NULL_REVISION  # a ghost: all the files are new
        new_tree, old_tree = repo.revision_tree(rev.revision_id), repo.revision_tree(old)
        files = set()
        for c in new_tree.iter_changes(old_tree):
            for path, kind in zip(c.path, c.kind):
                if path is not None and kind not in (None, "directory"):
                    files.add(path)
        out.append({
            "id": rev.revision_id.decode("utf-8", "replace"),
            "author": (rev.get_apparent_authors() or [rev.committer])[0],
            "micros": micros(rev),
            "message": rev.message,
            "files": sorted(files)[:max_files],
            "omitted": max(0, len(files) - max_files),
        })
    return {"changes": out}


try:
    json.dump(main(sys.argv[1:]), sys.stdout)
except Exception as e:  # one line, for the error brz's backend returns
    print("%s: %s" % (type(e).__name__, str(e).replace("\n", " ")), file=sys.stderr)
    sys.exit(1)
