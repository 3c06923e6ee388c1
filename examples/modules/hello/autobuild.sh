#!/bin/sh
# hello links against libgreet through libgreet's install root: CPATH and
# LIBRARY_PATH already point there.
set -eu
cc -O2 hello.c -o hello -lgreet
./hello autobuild > hello.out
cat hello.out
mkdir -p "$AUTOBUILD_INSTALL_ROOT/usr/bin"
cp hello "$AUTOBUILD_INSTALL_ROOT/usr/bin/"
tar -czf "$AUTOBUILD_PACKAGE_ROOT/hello-1.0.$AUTOBUILD_COUNTER.tar.gz" -C "$AUTOBUILD_INSTALL_ROOT" .
