#!/bin/sh
# `make deb`: build/berth_<version>_<arch>.deb with dpkg-deb, from an already built binary:
# the binary, the man page, the example settings as the conffile /etc/berth/berth.yaml, and
# the berth gc service and timer (installed, not enabled: `systemctl enable --now
# berth-gc.timer`), and a postinst that creates the job users the conffile lists. Usage:
# scripts/deb.sh BINARY VERSION OUTDIR
set -eu
bin=$1 version=$2 out=$3
arch=$(dpkg --print-architecture)
root=$(mktemp -d "${TMPDIR:-/tmp}/berth-deb-XXXXXX")
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"

install -D -m 0755 "$bin" "$root/usr/bin/berth"
install -d -m 0755 "$root/usr/share/man/man1"
gzip -9n < docs/berth.1 > "$root/usr/share/man/man1/berth.1.gz"
install -D -m 0644 examples/berth.yaml "$root/etc/berth/berth.yaml"
install -D -m 0644 packaging/berth-gc.service "$root/lib/systemd/system/berth-gc.service"
install -D -m 0644 packaging/berth-gc.timer "$root/lib/systemd/system/berth-gc.timer"
install -d -m 0755 "$root/usr/share/doc/berth"
for doc in README.md docs/*.md; do
  install -m 0644 "$doc" "$root/usr/share/doc/berth/"
done
install -d -m 0755 "$root/DEBIAN"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" packaging/control.in > "$root/DEBIAN/control"
echo /etc/berth/berth.yaml > "$root/DEBIAN/conffiles"
install -m 0755 packaging/postinst "$root/DEBIAN/postinst"
mkdir -p "$out"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out/berth_${version}_${arch}.deb" >/dev/null
echo "$out/berth_${version}_${arch}.deb"
