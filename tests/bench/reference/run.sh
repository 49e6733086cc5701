#!/bin/bash
# /opt/berth-ref/run.sh SCRIPT STAGE: runs one stage script of the job on this host.

currentDir="${BASH_SOURCE[0]%/*}"
# shellcheck source=base.sh source-path=SCRIPTDIR
source "${currentDir}/base.sh" # Get variables from base.

set -eo pipefail

# trap any error, and mark it as a system failure.
trap 'exit ${SYSTEM_FAILURE_EXIT_CODE:-2}' ERR

if [[ ! -d $JOB_DIR/tmp ]]; then
    echo "berth-ref: job $JOB_ID has no workspace (prepare did not run)" >&2
    exit "${SYSTEM_FAILURE_EXIT_CODE:-2}"
fi

build_failure=${BUILD_FAILURE_EXIT_CODE:-1}
exit_code_file=${BUILD_EXIT_CODE_FILE:-}
grace=${kill_grace:-10}

# The script sees the runner's environment minus the driver's internals, plus its workspace.
export -n JOB_RESPONSE_FILE BUILD_FAILURE_EXIT_CODE SYSTEM_FAILURE_EXIT_CODE \
    BUILD_EXIT_CODE_FILE REF_CONFIG "${!CUSTOM_ENV_@}"
export BERTH_JOB_DIR="$JOB_DIR" TMPDIR="$JOB_DIR/tmp"

# Job control puts the script in its own process group, stdin /dev/null. Every process it starts
# inherits BERTH_JOB_DIR: cleanup finds the job's leftovers by it.
trap - ERR
set +e -m
bash "$1" < /dev/null &
pid=$!

# Cancel: SIGTERM/SIGINT is forwarded to the script's group, which gets SIGKILL after the grace
# period.
cancelled=
trap 'cancelled=1' TERM INT
while :; do
    wait "$pid"
    code=$?
    if [[ -n $cancelled ]] && kill -0 "$pid" 2> /dev/null; then # a trapped signal broke the wait
        cancelled=
        kill -TERM -- "-$pid" 2> /dev/null
        for ((i = 0; i < grace * 10; i++)); do
            kill -0 "$pid" 2> /dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$pid" 2> /dev/null
        continue
    fi
    break
done

# What the script left behind gets SIGTERM, then SIGKILL after the grace period.
if kill -TERM -- "-$pid" 2> /dev/null; then
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 -- "-$pid" 2> /dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2> /dev/null
fi

if [[ $code -ne 0 ]]; then
    # Exit using the variable, to mark the build as failed in GitLab CI.
    [[ -n $exit_code_file ]] && echo "$code" > "$exit_code_file"
    exit "$build_failure"
fi
exit 0
