#!/bin/sh
# `make deb`: build/berth_<version>_<arch>.deb with dpkg-deb, from an already built binary
# (stripped here), without debhelper. The package holds the binary, the man page, the example
# settings as the conffile /etc/berth/berth.yaml (0640), the berth gc service and timer
# (enabled by the postinst), a drop-in delegating GitLab Runner's cgroup to berth, a logrotate
# rule for the stage log, bash completion, the copyright file (DEP-5, from LICENSE) and the
# changelog (from CHANGELOG.md). It must pass lintian (tests/infra/test_package.py).
# Usage: scripts/deb.sh BINARY VERSION OUTDIR
set -eu
bin=$1 version=$2 out=$3
arch=$(dpkg --print-architecture)
work=$(mktemp -d "${TMPDIR:-/tmp}/berth-deb-XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
install -d -m 0755 "$root" "$root/DEBIAN"

# The newest CHANGELOG.md entry ("## VERSION (YYYY-MM-DD)") must be this version: it becomes
# the package's changelog, and a release without an entry is a mistake to catch here.
newest=$(sed -n 's/^## \([^ ]*\) (\([0-9-]*\))$/\1 \2/p' CHANGELOG.md | head -n 1)
if [ "${newest%% *}" != "$version" ]; then
  echo "deb.sh: CHANGELOG.md's newest entry is '${newest%% *}', not $version: add a" \
    "'## $version (YYYY-MM-DD)' entry at its top" >&2
  exit 1
fi

# The binary, stripped of what a running program never needs (symbols, debug info); the
# build's hardening (PIE, RELRO, stack protector, fortify) is in the code and stays.
install -D -m 0755 "$bin" "$root/usr/bin/berth"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/berth"

install -d -m 0755 "$root/usr/share/man/man1"
gzip -9n < docs/berth.1 > "$root/usr/share/man/man1/berth.1.gz"
# 0640: the settings decide what berth runs as root, may name credentials files, and no job
# user needs to read them (docs/job-users.md). dpkg keeps this mode on every install and
# upgrade of the file, which a chmod in the postinst would not (lintian override, below).
install -D -m 0640 examples/berth.yaml "$root/etc/berth/berth.yaml"
install -D -m 0644 packaging/berth.logrotate "$root/etc/logrotate.d/berth"
# The settings' metrics_dir: node_exporter's textfile directory as Debian's
# prometheus-node-exporter reads it, shipped (a directory two packages may share) so that
# berth can write there before, or without, node_exporter (docs/operations.md).
install -d -m 0755 "$root/var/lib/prometheus/node-exporter"
install -D -m 0644 packaging/berth-gc.service "$root/lib/systemd/system/berth-gc.service"
install -D -m 0644 packaging/berth-gc.timer "$root/lib/systemd/system/berth-gc.timer"
# GitLab Runner's unit delegates a cgroup subtree to berth (docs/operations.md). A package's
# drop-in lives beside the package units, not in /etc/systemd/system: that is the admin's, and a
# file of the same name there (or a link to /dev/null) overrides this one.
install -D -m 0644 packaging/berth-cgroup.conf \
  "$root/lib/systemd/system/gitlab-runner.service.d/berth-cgroup.conf"
install -D -m 0644 packaging/berth.bash-completion \
  "$root/usr/share/bash-completion/completions/berth"
install -D -m 0644 packaging/lintian-overrides "$root/usr/share/lintian/overrides/berth"

doc=$root/usr/share/doc/berth
install -d -m 0755 "$doc"
for f in README.md docs/*.md; do
  install -m 0644 "$f" "$doc/"
done
# DEP-5: the header in packaging/copyright, then LICENSE's terms as the licence text (blank
# lines become " .", every line indented by one space).
{
  cat packaging/copyright
  sed -n '/^Permission/,$p' LICENSE | sed -e 's/^$/./' -e 's/^/ /'
} > "$doc/copyright"
chmod 0644 "$doc/copyright"
# A native package's changelog is changelog.gz, in Debian's format: one entry per
# CHANGELOG.md section, its "- " items as "  * " lines, dated at noon UTC of the entry's day.
awk -v who="berth maintainers <berth@example.com>" '
  function close_entry() {
    if (ver != "") {
      cmd = "TZ=UTC date -R -d \"" day " 12:00\""
      cmd | getline when; close(cmd)
      printf "\n -- %s  %s\n\n", who, when
    }
  }
  /^## / {
    close_entry()
    ver = $2; day = $3; gsub(/[()]/, "", day)
    printf "berth (%s) unstable; urgency=medium\n\n", ver
    next
  }
  ver != "" && /^- / { print "  * " substr($0, 3); next }
  ver != "" && /^  [^ ]/ { print "  " $0; next }
  END { close_entry() }
' CHANGELOG.md | sed '$d' | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# Depends: what the binary links, from dpkg-shlibdeps (it wants a debian/control naming the
# package, so it gets a stub beside the root), plus the libraries berth dlopen()s on first use
# and that no tool can see in the ELF file: libcurl (runner/base/http.c, libcurl.so.4), libarchive
# (runner/tools/unpack.c, libarchive.so.13), libgit2 (runner/pipeline/git.c, libgit2.so.1.5) and PCRE2
# (runner/base/pcre2_lazy.c, libpcre2-8.so.0). Versions are those of their Debian 12 shlibs files.
# tests/infra/test_package.py checks that each soname the source loads is listed here.
dlopened="libcurl4 (>= 7.88.1), libarchive13 (>= 3.6.2), libgit2-1.5 (>= 1.5.1+ds),"
dlopened="$dlopened libpcre2-8-0 (>= 10.42)"
install -d -m 0755 "$work/debian"
printf 'Source: berth\n\nPackage: berth\nArchitecture: any\n' > "$work/debian/control"
linked=$(cd "$work" && dpkg-shlibdeps -O -e root/usr/bin/berth 2>/dev/null)
linked=${linked#shlibs:Depends=}
[ -n "$linked" ] || { echo "deb.sh: dpkg-shlibdeps found no dependencies of $bin" >&2; exit 1; }

size=$(du -s -k --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$size/" \
  -e "s/@DEPENDS@/$linked, $dlopened/" packaging/control.in > "$root/DEBIAN/control"
printf '/etc/berth/berth.yaml\n/etc/logrotate.d/berth\n' > "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "packaging/$script" "$root/DEBIAN/$script"
done
(cd "$root" && find usr etc lib -type f | LC_ALL=C sort | xargs md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

mkdir -p "$out"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out/berth_${version}_${arch}.deb" >/dev/null
echo "$out/berth_${version}_${arch}.deb"
