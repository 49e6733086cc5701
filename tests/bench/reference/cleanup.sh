#!/bin/bash
# /opt/berth-ref/cleanup.sh: ends what the job left running and removes its workspace.
# Runs after every failed config/prepare attempt too: nothing to do is a success.

currentDir="${BASH_SOURCE[0]%/*}"
# shellcheck source=base.sh source-path=SCRIPTDIR
source "${currentDir}/base.sh" # Get variables from base.

set -eo pipefail

# trap any error, and mark it as a system failure.
trap 'exit ${SYSTEM_FAILURE_EXIT_CODE:-2}' ERR

grace=${kill_grace:-10}
marker="BERTH_JOB_DIR=$JOB_DIR"

# This script and its ancestors carry the marker too (the runner passes job_env to cleanup):
# never signal them.
spare=" $$ "
pid=$PPID
while ((pid > 1)) && read -r stat 2> /dev/null < "/proc/$pid/stat"; do
    spare+="$pid "
    read -r -a fields <<< "${stat##*) }" # after "pid (comm) ": state, ppid, ...
    pid=${fields[1]}
done

# The job's processes: every one whose environment holds the marker as a whole entry. grep runs
# without it; the subshell of $(...) has it, but is gone when kill -0 asks.
job_pids() {
    local file pid
    # shellcheck disable=SC2013 # /proc/N/environ names have no spaces
    for file in $(BERTH_JOB_DIR='' grep -lzxF -e "$marker" /proc/[0-9]*/environ 2> /dev/null); do
        pid=${file#/proc/}
        pid=${pid%/environ}
        if [[ $spare != *" $pid "* ]] && kill -0 "$pid" 2> /dev/null; then
            pids+=("$pid")
        fi
    done
}

# SIGTERM, then SIGKILL after the grace period (and for any forked meanwhile).
sig=TERM
deadline=$((${EPOCHREALTIME/[.,]/} + grace * 1000000))
while :; do
    pids=()
    job_pids || true
    ((${#pids[@]})) || break
    kill "-$sig" "${pids[@]}" 2> /dev/null || true
    kill -CONT "${pids[@]}" 2> /dev/null || true
    sleep 0.05
    ((${EPOCHREALTIME/[.,]/} < deadline)) || sig=KILL
done

rm -rf -- "$JOB_DIR"
