#!/bin/bash
# /opt/berth-ref/prepare.sh: creates the job's workspace <state_dir>/jobs/<job id>/ (0700) with
# tmp/ and a state record of what was created. Running it again reuses what is there.

currentDir="${BASH_SOURCE[0]%/*}"
# shellcheck source=base.sh source-path=SCRIPTDIR
source "${currentDir}/base.sh" # Get variables from base.

set -eo pipefail

# trap any error, and mark it as a system failure.
trap 'exit ${SYSTEM_FAILURE_EXIT_CODE:-2}' ERR

# The shell executor needs bash on PATH: fail here rather than in the first stage.
if ! type -P bash > /dev/null; then
    echo "berth-ref: no bash on PATH '$PATH'" >&2
    exit "${SYSTEM_FAILURE_EXIT_CODE:-2}"
fi

umask 077
if [[ -L $JOB_DIR ]]; then
    echo "berth-ref: workspace '$JOB_DIR' is a symlink" >&2
    exit "${SYSTEM_FAILURE_EXIT_CODE:-2}"
fi
mkdir -p -- "$JOB_DIR/tmp"
printf 'job %s\nproject_id %s\nproject_path %s\nprepared %(%s)T\ncreated %s\n' \
    "$JOB_ID" "$PROJECT_ID" "$PROJECT_PATH" -1 "$JOB_DIR/tmp" > "$JOB_DIR/state"
