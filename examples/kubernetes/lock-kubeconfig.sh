#!/bin/bash
# Writes the kubeconfig berth's `lock_kubeconfig` names: the ServiceAccount of rbac.yaml, with a
# token from the TokenRequest API, on the cluster of kubectl's current context (the admin's:
# $KUBECONFIG or ~/.kube/config). The token expires: run this again before it does (from cron
# or a systemd timer); berth reads the file at every lock.
#
#   lock-kubeconfig.sh [-n NAMESPACE] [-a SERVICEACCOUNT] [-d SECONDS] OUTPUT
#
# NAMESPACE and SERVICEACCOUNT default to rbac.yaml's (berth-locks, berth-runner), SECONDS to
# 86400 (the server may give less: the expiry it gave is printed). OUTPUT is replaced
# atomically and is 0600. The token never appears in a command line.
#
# `kubectl create --raw` rather than `kubectl create token`, which is the same request but
# only in kubectl 1.24 and later: Debian 12's kubectl is 1.20.
set -euo pipefail

namespace=berth-locks
account=berth-runner
seconds=86400
usage="usage: $0 [-n NAMESPACE] [-a SERVICEACCOUNT] [-d SECONDS] OUTPUT"
while getopts n:a:d: opt; do
	case $opt in
	n) namespace=$OPTARG ;;
	a) account=$OPTARG ;;
	d) seconds=$OPTARG ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
case $seconds in
'' | *[!0-9]*) echo "$0: -d takes whole seconds, not '$seconds'" >&2; exit 2 ;;
esac
if [ $# -ne 1 ]; then
	echo "$usage" >&2
	exit 2
fi
output=$1

cluster() {
	kubectl config view --raw --minify --flatten -o "jsonpath={.clusters[0].cluster.$1}"
}
server=$(cluster server)
ca=$(cluster certificate-authority-data)
if [ -z "$server" ]; then
	echo "$0: kubectl's current context names no cluster server:" \
		"set KUBECONFIG to the admin's kubeconfig" >&2
	exit 1
fi

# The answer holds the token: it stays in this shell's memory until it is written.
request='{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest",'
request+='"spec":{"expirationSeconds":%s}}'
# shellcheck disable=SC2059 # the format is ours; seconds are checked digits
answer=$(printf "$request" "$seconds" |
	kubectl create --raw "/api/v1/namespaces/$namespace/serviceaccounts/$account/token" -f -)
status=${answer##*\"status\":}
token=$(printf '%s' "$status" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
expiry=$(printf '%s' "$status" | sed -n 's/.*"expirationTimestamp":"\([^"]*\)".*/\1/p')
unset answer status
if [ -z "$token" ]; then
	echo "$0: the TokenRequest for ServiceAccount $namespace/$account gave no token" >&2
	exit 1
fi

umask 077
tmp=$(mktemp "$output.XXXXXX")
trap 'rm -f "$tmp"' EXIT
{
	printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: berth-locks\n  cluster:\n'
	printf '    server: %s\n' "$server"
	if [ -n "$ca" ]; then
		printf '    certificate-authority-data: %s\n' "$ca"
	fi
	printf 'users:\n- name: berth-locks\n  user:\n'
	printf '    token: %s\n' "$token"
	printf 'contexts:\n- name: berth-locks\n  context:\n    cluster: berth-locks\n'
	printf '    user: berth-locks\n    namespace: %s\n' "$namespace"
	printf 'current-context: berth-locks\n'
} >"$tmp"
unset token
mv -f "$tmp" "$output"
trap - EXIT
echo "wrote $output: ServiceAccount $namespace/$account on $server; its token expires at $expiry"
