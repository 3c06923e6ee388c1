#!/bin/sh
# Build contract: install into the module's virtual install root, leave
# packages in its package root.
set -eu
prefix=/usr
cc -O2 -c greet.c -o greet.o
ar rcs libgreet.a greet.o
mkdir -p "$AUTOBUILD_INSTALL_ROOT$prefix/lib/pkgconfig" "$AUTOBUILD_INSTALL_ROOT$prefix/include"
cp libgreet.a "$AUTOBUILD_INSTALL_ROOT$prefix/lib/"
cp greet.h "$AUTOBUILD_INSTALL_ROOT$prefix/include/"
cat > "$AUTOBUILD_INSTALL_ROOT$prefix/lib/pkgconfig/greet.pc" <<PC
Name: greet
Description: greeting library
Version: 1.0
Libs: -lgreet
PC
tar -czf "$AUTOBUILD_PACKAGE_ROOT/libgreet-1.0.$AUTOBUILD_COUNTER.tar.gz" -C "$AUTOBUILD_INSTALL_ROOT" .
echo "libgreet built at revision $AUTOBUILD_REVISION"
