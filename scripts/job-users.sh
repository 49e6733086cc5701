#!/bin/sh
# Creates the job users berth-job-1..N (docs/job-users.md) where they are missing: system
# users with a home of their own and no password. Idempotent. Usage: scripts/job-users.sh N
# (root, or a user with sudo). The .deb's postinst and the Ansible role do the same.
set -eu
n=${1:-4}
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
i=1
while [ "$i" -le "$n" ]; do
  name="berth-job-$i"
  if ! getent passwd "$name" >/dev/null; then
    $sudo useradd --system --create-home --home-dir "/var/lib/$name" --shell /bin/bash "$name"
  fi
  i=$((i + 1))
done
