#!/bin/bash
# Builds a real kube-apiserver (v1.20.2) from Debian 12's `kubernetes` source package for
# berth's e2e tests (see the kube_api fixture in tests/e2e/lib/kubeapi.py), once, into a cache
# directory outside the checkout. Prints the binary's path as the last line of stdout.
#
#   scripts/kube-apiserver.sh          # fast path: the binary is there -> just print its path
#   scripts/kube-apiserver.sh --check  # never builds: print the path, exit 1 if it is absent
#
# Otherwise (about 7 minutes on 2 cores, peak 1.3 GB RAM and 2 GB disk): installs the missing
# packages (golang-go etcd-server rsync golang-github-modern-go-reflect2-dev), fetches the
# source through a private apt source list (the system's lists are left alone), swaps the
# vendored modern-go/reflect2 1.0.1 (unsafe with Go >= 1.18) for Debian's 1.0.2, builds
# `make WHAT=cmd/kube-apiserver` in GOPATH mode, and moves the binary into place by rename.
# The build tree lives in a temporary directory under the cache directory and is deleted
# afterwards; the build's output goes to a log file next to the binary's directory.
#
# Environment: BERTH_CACHE_DIR (default /var/cache/berth). Needs root (or sudo) only when
# packages are missing.
set -euo pipefail

VERSION=1.20.2
COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56 # upstream's v1.20.2 tag, as in the tarball
CACHE_DIR=${BERTH_CACHE_DIR:-/var/cache/berth}
DEST_DIR="$CACHE_DIR/kube-apiserver-$VERSION"
DEST="$DEST_DIR/kube-apiserver"
LOG="$CACHE_DIR/kube-apiserver-$VERSION.log"
PACKAGES="golang-go etcd-server rsync golang-github-modern-go-reflect2-dev"
REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# The archive this machine already uses, for deb-src: the URIs of its own apt sources (deb822
# `URIs:` lines or one-line `deb URI SUITE` entries), the one serving bookworm and the one
# serving bookworm-security.
apt_uri() { # SUITE
  {
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk -v s="$1" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i == s) print $(i - 1) }'
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk -v s="$1" 'BEGIN { RS = ""; FS = "\n" }
        { uri = ""; ok = 0
          for (i = 1; i <= NF; i++) {
            if ($i ~ /^URIs:/) { split($i, a, " "); uri = a[2] }
            if ($i ~ /^Suites:/) { n = split($i, b, " "); for (j = 2; j <= n; j++) if (b[j] == s) ok = 1 }
          }
          if (ok && uri != "") print uri }' "$f"
    done
  } | grep -v '^\[' | head -n 1
}

if [ -x "$DEST" ]; then
  echo "$DEST"
  exit 0
fi
if [ "${1-}" = --check ]; then
  echo "$DEST"
  exit 1
fi
[ $# -eq 0 ] || { echo "usage: $0 [--check]" >&2; exit 2; }

say() { echo "kube-apiserver.sh: $*" >&2; }

mkdir -p "$CACHE_DIR"
# One build at a time; a second caller waits and then takes the fast path.
exec 9>"$CACHE_DIR/kube-apiserver.lock"
flock 9
if [ -x "$DEST" ]; then
  echo "$DEST"
  exit 0
fi

# Leftovers of an interrupted build (we hold the lock, so nobody else is building).
rm -rf "$CACHE_DIR"/kube-apiserver-build.*
WORK=$(mktemp -d "$CACHE_DIR/kube-apiserver-build.XXXXXX")
ok=0
finish() {
  # Go's module cache is read-only; make it removable first.
  chmod -R u+w "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
  if [ "$ok" -ne 1 ]; then
    say "build FAILED; the end of $LOG:"
    tail -n 40 "$LOG" >&2 || true
  fi
}
trap finish EXIT
trap 'exit 130' INT TERM HUP
: >"$LOG"
start=$(date +%s)

# Runs "$@" with its output in the log.
logged() {
  echo "+ $*" >>"$LOG"
  "$@" >>"$LOG" 2>&1
}

# --- packages (only those missing) --------------------------------------------------------
missing=""
for p in $PACKAGES; do
  case "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)" in
    ii*) ;;
    *) missing="$missing $p" ;;
  esac
done
if [ -n "$missing" ]; then
  say "installing:$missing"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  logged "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  logged "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $missing
fi

# --- source, through a private apt configuration -------------------------------------------
say "fetching the kubernetes source package (log: $LOG)"
APT="$WORK/apt"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/parts" "$WORK/dl"
MIRROR=$(apt_uri bookworm)
SECURITY=$(apt_uri bookworm-security)
[ -n "$MIRROR" ] || { say "no apt source for bookworm in /etc/apt: cannot fetch the source"; exit 1; }
[ -n "$SECURITY" ] || SECURITY="${MIRROR%/debian}/debian-security"
cat >"$APT/sources.list" <<EOF
deb-src [signed-by=$KEYRING] $MIRROR bookworm main
deb-src [signed-by=$KEYRING] $MIRROR bookworm-updates main
deb-src [signed-by=$KEYRING] $SECURITY bookworm-security main
EOF
apt_private=(
  -o "Dir::Etc::SourceList=$APT/sources.list"
  -o "Dir::Etc::SourceParts=$APT/parts"
  -o "Dir::State::Lists=$APT/lists"
  -o "Dir::Cache=$APT/cache"
  -o "APT::Sandbox::User=root"
)
logged apt-get "${apt_private[@]}" update -q
(cd "$WORK/dl" && logged apt-get "${apt_private[@]}" source --download-only -q kubernetes)
orig=$(find "$WORK/dl" -maxdepth 1 -name 'kubernetes_*.orig.tar.*' | head -n 1)
[ -n "$orig" ] || { say "no kubernetes_*.orig.tar.* downloaded"; exit 1; }
echo "+ source: $orig" >>"$LOG"

mkdir -p "$WORK/x"
logged tar -xf "$orig" -C "$WORK/x"
rm -rf "$WORK/dl" "$APT"
# The tarball holds one top directory.
tree=$(find "$WORK/x" -mindepth 1 -maxdepth 1 -type d | head -n 1)
[ -f "$tree/cmd/kube-apiserver/apiserver.go" ] || { say "unexpected source layout"; exit 1; }

# --- vendored reflect2 1.0.1 -> Debian's 1.0.2 ---------------------------------------------
r2="$tree/vendor/github.com/modern-go/reflect2"
if [ ! -d "$r2" ] || [ ! -d "$REFLECT2_SRC" ]; then
  say "reflect2 sources missing"
  exit 1
fi
find "$r2" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) -delete
find "$REFLECT2_SRC" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) \
  ! -name '*_test.go' -exec cp -L {} "$r2/" \;

# --- build, the upstream way (GOPATH mode; the OpenAPI code is generated) ------------------
say "building kube-apiserver (about 7 minutes)"
mkdir -p "$tree/.go/src/k8s.io"
ln -s "$tree" "$tree/.go/src/k8s.io/kubernetes"
# The version the binary reports, without asking git (the cache dir may lie in a git checkout).
cat >"$WORK/version" <<EOF
KUBE_GIT_COMMIT='$COMMIT'
KUBE_GIT_VERSION='v$VERSION'
KUBE_GIT_MAJOR='1'
KUBE_GIT_MINOR='20'
KUBE_GIT_TREE_STATE='clean'
EOF
(
  cd "$tree/.go/src/k8s.io/kubernetes"
  logged env GOPATH="$tree/.go" GOPROXY=off GOSUMDB=off CGO_ENABLED=0 \
    GOCACHE="$WORK/gocache" GOFLAGS= KUBE_GIT_VERSION_FILE="$WORK/version" \
    make WHAT=cmd/kube-apiserver
)
bin=$(readlink -f "$tree/_output/bin/kube-apiserver")
[ -x "$bin" ] || { say "no _output/bin/kube-apiserver after make"; exit 1; }
logged "$bin" --version

# --- install by rename (same file system as the cache dir) ---------------------------------
mkdir -p "$DEST_DIR"
mv "$bin" "$DEST.tmp.$$"
chmod 0755 "$DEST.tmp.$$"
mv -f "$DEST.tmp.$$" "$DEST"
echo "+ built in $(($(date +%s) - start)) s: $DEST" >>"$LOG"
say "built in $(($(date +%s) - start)) s"
ok=1
echo "$DEST"
