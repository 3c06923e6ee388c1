#!/bin/sh
set -eu
mkdir -p "$AUTOBUILD_INSTALL_ROOT/usr/share/doc/demo"
{ echo "<html><body><pre>"; cat index.md; echo "</pre><p>build $AUTOBUILD_COUNTER at $AUTOBUILD_TIMESTAMP</p></body></html>"; } \
  > "$AUTOBUILD_INSTALL_ROOT/usr/share/doc/demo/index.html"
cp "$AUTOBUILD_INSTALL_ROOT/usr/share/doc/demo/index.html" "$AUTOBUILD_PACKAGE_ROOT/docs.html"
