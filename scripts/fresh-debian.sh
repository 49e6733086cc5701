#!/bin/bash
# `make fresh-debian`: the README's first command, `make demo`, on a fresh Debian 12, as a
# newcomer would run it, and the .deb installed there with apt. Root only.
#
# 1. root:    a minbase bookworm root with make, git, sudo and ca-certificates (mmdebstrap),
#             cached as a tarball under $BERTH_CACHE_DIR (default /var/cache/berth), named by a
#             hash of its recipe, so changing the package list or the mirror builds a new one.
# 2. demo:    the root unpacked into a temporary directory, a clone of this checkout's HEAD in
#             it (a clone: uncommitted changes are NOT tested; commit first), and `make demo`
#             run once by a normal user with passwordless sudo. It must pass on the first try.
# 3. deb:     `make deb` there, then `apt-get install --no-install-recommends ./berth_*.deb`
#             in a second, untouched copy of the root (so the build's -dev packages cannot hide
#             a missing Depends), every library berth dlopens present, and one job run by
#             tests/e2e/lib/runner.py through the installed /usr/bin/berth with the installed
#             /etc/berth/berth.yaml: it must succeed with its script run as a job user.
# 4. check:   `make deps` in the first root, then every program `make check` runs is there.
#
# Each root runs in a chroot inside `unshare --mount --pid`: /proc, /dev, /sys and the apt
# archive cache ($BERTH_CACHE_DIR/apt-archives, so a second run downloads no package again;
# apt itself still runs) are mounted in that namespace only, so they disappear with it, and
# every process left in the roots dies with it. The roots are on a tmpfs of that namespace too.
# Logs of each phase: $BERTH_CACHE_DIR/fresh-debian-logs/ (kept until the next run).
#
# Environment: BERTH_CACHE_DIR; BERTH_DEBIAN_MIRROR and BERTH_DEBIAN_SECURITY (default
# deb.debian.org, the mirror this project's machines use in /etc/apt/sources.list.d).
set -eEuo pipefail

CACHE_DIR=${BERTH_CACHE_DIR:-/var/cache/berth}
MIRROR=${BERTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${BERTH_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
SUITE=bookworm
PACKAGES=make,git,sudo,ca-certificates
NEWCOMER=newcomer
LOGS=$CACHE_DIR/fresh-debian-logs
ARCHIVES=$CACHE_DIR/apt-archives
# Every program `make check` runs (Makefile, scripts, tests/), as `make deps` must provide it.
CHECK_TOOLS="cc gcc clang clang-format clang-tidy cppcheck shellcheck valgrind pkg-config python3
  bwrap slirp4netns ip skopeo nginx docker-registry etcd htpasswd openssl ansible-playbook
  ansible-inventory ansible-lint yamllint zstd prlimit chattr setpriv flock mount useradd userdel
  groupadd getent git dpkg-deb lintian kubectl promtool prometheus prometheus-node-exporter protoc
  strace mmdebstrap unshare chroot"

phase=start
phase_t0=$SECONDS
work="" # the temporary directory, removed on exit

# phase NAME: the previous phase ended well (its time is printed); NAME starts now.
phase() {
  phase_ok
  phase=$1
  phase_t0=$SECONDS
  echo "fresh-debian: $phase ..."
}

phase_ok() {
  [ "$phase" = start ] || echo "fresh-debian: $phase: ok, $((SECONDS - phase_t0)) s"
}

failed() { # EXIT-CODE
  echo "fresh-debian: FAILED in phase '$phase' (exit $1) after $((SECONDS - phase_t0)) s" >&2
  if [ -s "$LOGS/$phase.log" ]; then
    echo "--- last lines of $LOGS/$phase.log:" >&2
    tail -n 60 "$LOGS/$phase.log" >&2
  fi
  exit "$1"
}

# logged CMD...: CMD's output into $LOGS/PHASE.log, the current phase's (failed() shows it).
logged() {
  "$@" >>"$LOGS/$phase.log" 2>&1
}

# in ROOT CMD...: CMD as root in the chroot ROOT, with a clean login-like environment.
inroot() {
  local root=$1
  shift
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# as_newcomer ROOT COMMAND: COMMAND (a shell line) as the newcomer, in the clone.
as_newcomer() {
  inroot "$1" runuser -l "$NEWCOMER" -c "cd ~/berth && $2"
}

# expect_line LOG TEXT WHAT: LOG has a line containing TEXT, or fail saying WHAT.
expect_line() {
  if ! grep -qF -- "$2" "$1"; then
    echo "fresh-debian: $3: no line with '$2' in $1" >&2
    return 1
  fi
}

# ---------------------------------------------------------------------------------------------
# Outside the namespace: the cached root, the work directory, then this script inside.

root_tarball() {
  local key
  key=$(printf '%s\n' "$SUITE" "$PACKAGES" "$MIRROR" "$SECURITY" minbase | sha256sum | cut -c1-12)
  echo "$CACHE_DIR/fresh-debian-$SUITE-$key.tar"
}

build_root_tarball() { # TARBALL
  local tarball=$1
  if [ -s "$tarball" ]; then
    echo "fresh-debian: reusing $tarball"
    return
  fi
  # Roots of an older recipe are never used again.
  rm -f "$CACHE_DIR"/fresh-debian-"$SUITE"-*.tar "$CACHE_DIR"/fresh-debian-"$SUITE"-*.tar.tmp
  logged mmdebstrap --variant=minbase --format=tar --include="$PACKAGES" "$SUITE" "$tarball.tmp" \
    "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
    "deb $SECURITY $SUITE-security main"
  mv "$tarball.tmp" "$tarball"
}

outside() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "fresh-debian: needs root (chroot, mounts, mmdebstrap): run it with sudo" >&2
    exit 2
  fi
  local repo tarball
  repo=$(cd "$(dirname "$0")/.." && pwd)
  mkdir -p "$CACHE_DIR" "$ARCHIVES/partial"
  # One run at a time: runs share the apt archive cache and the logs.
  exec 9>"$CACHE_DIR/fresh-debian.lock"
  flock 9
  rm -rf "$LOGS"
  mkdir -p "$LOGS"
  trap 'failed $?' ERR
  local t0=$SECONDS

  phase root
  tarball=$(root_tarball)
  build_root_tarball "$tarball"

  work=$(mktemp -d /var/tmp/berth-fresh-XXXXXX)
  # The roots live on a tmpfs mounted in the namespace only: it goes with the namespace, so
  # this removes an empty directory.
  trap 'rmdir "$work"' EXIT
  phase_ok
  trap - ERR
  local rc=0
  unshare --mount --pid --fork --kill-child --propagation private \
    "$(readlink -f "$0")" --inside "$work" "$tarball" "$repo" || rc=$?
  [ "$rc" -eq 0 ] || exit "$rc"
  echo "fresh-debian: passed in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------------------------
# Inside the namespace (PID 1 of it): mounts, then the phases in the two roots.

mount_root() { # ROOT
  local root=$1
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mount --rbind /sys "$root/sys"
  mount --bind "$ARCHIVES" "$root/var/cache/apt/archives"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
}

add_newcomer() { # ROOT
  inroot "$1" useradd --create-home --shell /bin/bash "$NEWCOMER"
  echo "$NEWCOMER ALL=(ALL) NOPASSWD: ALL" >"$1/etc/sudoers.d/$NEWCOMER"
  chmod 0440 "$1/etc/sudoers.d/$NEWCOMER"
  mv "$1/home/berth-clone" "$1/home/$NEWCOMER/berth"
  inroot "$1" chown -R "$NEWCOMER:" "/home/$NEWCOMER/berth"
}

# The libraries berth loads with dlopen (the *_LIBRARY names in its source), which no ELF
# dependency shows, so the package's Depends must name them.
check_dlopened() { # ROOT SOURCE-DIR
  local lib libs missing=""
  libs=$(grep -rhoE '_LIBRARY "lib[^"]+"' "$2"/runner "$2"/executors | cut -d'"' -f2 | sort -u)
  if [ -z "$libs" ]; then
    echo "fresh-debian: found no *_LIBRARY name in the source: has dl.h moved?" >&2
    return 1
  fi
  for lib in $libs; do
    inroot "$1" ldconfig -p | grep -F "$lib " >/dev/null || missing="$missing $lib"
  done
  if [ -n "$missing" ]; then
    echo "fresh-debian: berth dlopens$missing, which the package's Depends did not install" >&2
    return 1
  fi
}

inside() { # WORK TARBALL REPO
  local work=$1 tarball=$2 repo=$3 build install
  build=$work/build
  install=$work/install
  trap 'failed $?' ERR
  # In memory: dpkg's many small writes and fsyncs cost nothing, and nothing is left to delete.
  # The two roots take about 3 GB after `make deps`.
  mount -t tmpfs -o size=8g,mode=0755 fresh-debian "$work"

  phase unpack
  mkdir "$build" "$install"
  tar -C "$build" --numeric-owner -xpf "$tarball"
  tar -C "$install" --numeric-owner -xpf "$tarball"
  mount_root "$build"
  mount_root "$install"

  phase clone
  git clone -q --no-local --no-checkout "$repo" "$build/home/berth-clone"
  git -C "$build/home/berth-clone" checkout -q --detach "$(git -C "$repo" rev-parse HEAD)"
  echo "fresh-debian: testing commit $(git -C "$repo" log -1 --format='%h %s')"
  if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
    echo "fresh-debian: note: uncommitted changes in $repo are not tested"
  fi

  phase demo
  add_newcomer "$build"
  logged as_newcomer "$build" "make demo"
  expect_line "$LOGS/demo.log" "running as: $NEWCOMER" "make demo's job did not run the script"
  expect_line "$LOGS/demo.log" "job hello: succeeded" "make demo's job did not succeed"
  grep -E '^job hello: |^running as: ' "$LOGS/demo.log"

  phase deb
  logged as_newcomer "$build" "make deb"
  local deb
  deb=$(find "$build/home/$NEWCOMER/berth/build" -maxdepth 1 -name 'berth_*.deb' | head -n 1)
  [ -n "$deb" ] || { echo "fresh-debian: make deb left no build/berth_*.deb" >&2; false; }
  install -m 0644 "$deb" "$install/tmp/"

  phase install
  logged inroot "$install" apt-get update -q
  logged inroot "$install" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends "/tmp/$(basename "$deb")"
  logged inroot "$install" /usr/bin/berth --version
  check_dlopened "$install" "$build/home/$NEWCOMER/berth"

  phase job
  # The runner simulator needs python3, which the package does not (so only now).
  logged inroot "$install" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends python3
  install -D -m 0644 "$build/home/$NEWCOMER/berth/tests/e2e/lib/runner.py" \
    "$install/opt/berth-test/tests/e2e/lib/runner.py"
  logged inroot "$install" env BERTH_BIN=/usr/bin/berth \
    python3 /opt/berth-test/tests/e2e/lib/runner.py --demo --settings /etc/berth/berth.yaml
  expect_line "$LOGS/job.log" "running as: berth-job-" "the installed berth's job"
  expect_line "$LOGS/job.log" ": succeeded" "the installed berth's job"
  grep -E '^job [0-9]+: |out\| running as: ' "$LOGS/job.log"

  phase deps
  logged as_newcomer "$build" "make deps"

  phase tools
  local tool missing=""
  for tool in $CHECK_TOOLS; do
    inroot "$build" sh -c "command -v $tool" >/dev/null || missing="$missing $tool"
  done
  inroot "$build" python3 -c 'import pytest, yaml' || missing="$missing python3-pytest/python3-yaml"
  inroot "$build" python3 -c 'import grpc, google.protobuf' || missing="$missing python3-grpcio/python3-protobuf"
  if [ -n "$missing" ]; then
    echo "fresh-debian: after make deps, make check would miss:$missing" >&2
    false
  fi
  echo "fresh-debian: the two roots take $(df -h --output=used "$work" | tail -n 1 | tr -d ' ')"
  if ! inroot "$build" sh -c 'command -v terraform' >/dev/null; then
    echo "fresh-debian: note: no terraform (not in Debian); tests/infra/test_terraform.py skips" \
      "the tests that need it"
  fi
  phase_ok
}

case "${1-}" in
  --inside) inside "$2" "$3" "$4" ;;
  "") outside ;;
  *) echo "usage: $0" >&2; exit 2 ;;
esac
