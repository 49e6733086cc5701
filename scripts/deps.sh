#!/bin/sh
# Installs the Debian 12 packages berth's build and tests need, and only those missing, so a
# second run costs one dpkg-query per package. Needs root (or sudo) when something is missing.
#
#   scripts/deps.sh build   # what `make` and `make demo` need: compiler, libraries, python3, git
#   scripts/deps.sh [all]   # the build set plus what `make check` runs (`make deps`)
#
# Split so that a newcomer's `make demo` does not wait for clang, valgrind and ansible. The
# real servers the e2e tests start (PEERS.md) come from the test set (prometheus for promtool,
# which checks berth's metrics file); the Kubernetes API server is built from Debian's source
# by scripts/kube-apiserver.sh, which `make check` runs.
# Not in Debian, so not here: terraform (tests/infra/test_terraform.py skips what needs it,
# saying so). protobuf-compiler and python3-grpcio/python3-protobuf run the stand-in for the
# selectel and openstack providers that terraform validate and terraform test use offline.
set -eu

build="
  build-essential pkg-config bash procps python3 git
  libjansson-dev libyaml-dev libcurl4-openssl-dev libgit2-dev libpcre2-dev libarchive-dev zlib1g-dev
  libssl-dev
"
test="
  bubblewrap slirp4netns iproute2
  libcmocka-dev python3-pytest
  clang-format clang-tidy cppcheck clang libclang-rt-14-dev valgrind shellcheck e2fsprogs util-linux
  docker-registry nginx skopeo apache2-utils openssl etcd-server strace
  ansible ansible-lint yamllint python3-yaml zstd lintian mmdebstrap
  prometheus prometheus-node-exporter
  protobuf-compiler python3-grpcio python3-protobuf
"
# kubectl of the same version as the API server the tests build (1.20). A kubectl already on
# PATH (e.g. Google's `kubectl` package, which ships the same file) is kept.
command -v kubectl >/dev/null 2>&1 || test="$test kubernetes-client"

case "${1:-all}" in
  build) packages=$build ;;
  all) packages="$build $test" ;;
  *) echo "usage: $0 [build|all]" >&2; exit 2 ;;
esac

missing=""
for p in $packages; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  case "$status" in
    ii*) ;;
    *) missing="$missing $p" ;;
  esac
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
# Through env: sudo drops the caller's environment, and a debconf prompt would hang a build.
$sudo apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is intended
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
