#!/bin/sh
# Installs the Debian 12 packages berth's build and tests need, and only those missing, so a
# second run costs one dpkg-query. Needs root (or sudo) when something is missing. The real
# servers the e2e tests start (PEERS.md) come from here too; the Kubernetes API server is built
# from Debian's source by scripts/kube-apiserver.sh, which `make check` runs.
set -eu

packages="
  build-essential pkg-config bash procps bubblewrap slirp4netns
  libjansson-dev libyaml-dev libcurl4-openssl-dev libgit2-dev libpcre2-dev libarchive-dev zlib1g-dev
  libssl-dev
  libcmocka-dev python3 python3-pytest
  clang-format clang-tidy cppcheck clang libclang-rt-14-dev valgrind e2fsprogs util-linux
  docker-registry nginx skopeo apache2-utils openssl etcd-server
  ansible ansible-lint yamllint python3-yaml zstd git
"

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
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is intended
$sudo apt-get install -y -q --no-install-recommends $missing
