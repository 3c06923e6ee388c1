#!/bin/sh
# Makes the Debian package of autobuild from a staged install (make deb):
#   dist/deb/build.sh ROOT VERSION GOARCH OUTDIR
# ROOT is `make install DESTDIR=ROOT PREFIX=/usr UNITDIR=/lib/systemd/system
# ZSHCOMPDIR=/usr/share/zsh/vendor-completions`; this adds what Debian asks
# of a package (stripped binaries, compressed man pages, copyright,
# changelog, the control file, conffiles, md5sums) and builds it with
# dpkg-deb, owned by root whoever runs it. The binaries are static (built
# without cgo, as the sandbox helper needs): the package depends on
# nothing; ca-certificates is recommended for https sources. Nothing is
# enabled on install: no maintainer scripts.
# DEB_MAINTAINER names the maintainer; SOURCE_DATE_EPOCH (default: the
# commit's time) dates the changelog and the files; DEB_COMPRESS is
# dpkg-deb's compressor (gzip: xz takes three times as long for 12 % less).
set -eu
root=$1 version=$2 goarch=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
case $goarch in
386) arch=i386 ;;
arm) arch=armhf ;;
ppc64le) arch=ppc64el ;;
mips64le) arch=mips64el ;;
mipsle) arch=mipsel ;;
*) arch=$goarch ;;
esac
maintainer=${DEB_MAINTAINER:-autobuild maintainers <autobuild@example.org>}
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$here" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
commit=$("$root/usr/bin/autobuild" --version | sed -n 's/.*(commit \([^,]*\),.*/\1/p')

# Stripped as Debian's own packages are (a Go binary keeps what its stack
# traces and --version need); autobuild-secure stays a hard link.
bin=$root/usr/bin
strip --remove-section=.comment --remove-section=.note "$bin/autobuild" "$bin/autobuild-helper"
ln -f "$bin/autobuild" "$bin/autobuild-secure"

# Man pages are compressed, and the other names link the first.
man=$root/usr/share/man/man1
gzip -9n "$man/autobuild.1"
for name in autobuild-secure autobuild-helper; do
	rm -f "$man/$name.1"
	ln -s autobuild.1.gz "$man/$name.1.gz"
done

# Static on purpose: lintian exempts Go binaries only when it sees the
# source package's golang build dependency.
install -d "$root/usr/share/lintian/overrides"
printf '%s\n' '# Go binaries built without cgo: static on purpose.' \
	'autobuild: statically-linked-binary [usr/bin/*]' >"$root/usr/share/lintian/overrides/autobuild"
chmod 0644 "$root/usr/share/lintian/overrides/autobuild"

doc=$root/usr/share/doc/autobuild
install -d "$doc"
install -m 0644 "$here/copyright" "$doc/copyright"
gzip -9n <"$here/../../README.md" >"$doc/README.md.gz"
{
	echo "autobuild ($version) unstable; urgency=medium"
	echo
	echo "  * Built from commit $commit."
	echo
	echo " -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc/README.md.gz" "$doc/changelog.gz"

install -d "$root/DEBIAN"
(cd "$root" && find etc -type f | sort | sed 's|^|/|') >"$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort | xargs md5sum) >"$root/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@SIZE@|$size|" \
	-e "s|@MAINTAINER@|$maintainer|" "$here/control.in" >"$root/DEBIAN/control"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
find "$root" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

deb=$out/autobuild_${version}_${arch}.deb
dpkg-deb --root-owner-group -Z"${DEB_COMPRESS:-gzip}" --build "$root" "$deb"
echo "$deb"
