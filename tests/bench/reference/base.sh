#!/bin/bash
# /opt/berth-ref/base.sh
# Each stage (config, prepare, run, cleanup) sources this script for the settings and the job's
# workspace path. It must stay in the same directory as the other scripts.
#
# This is the reference driver of berth's benchmark (tests/bench/bench.py): the work berth does,
# written as bash scripts in the style of GitLab's documented custom-executor examples (LXD,
# libvirt), but running the job on this host like a shell executor. Keep it honest: the same
# steps berth takes, and no slowness berth does not pay either (no `$(...)` subshells where a
# parameter expansion does, `#!/bin/bash` rather than an extra `env` exec).

# Settings: a sourced shell file, the bash counterpart of berth's settings file.
state_dir=/var/lib/berth-ref
# shellcheck disable=SC2034 # config.sh, which sources this file, uses them
builds_dir=/builds
# shellcheck disable=SC2034
cache_dir=/cache
if [[ -n ${REF_CONFIG:-} ]]; then
    # shellcheck source=/dev/null
    source "$REF_CONFIG"
fi

# Job identity, validated like berth validates it. These come from CUSTOM_ENV_, the user's
# input: a bad value is a build failure.
bad_input() {
    echo "berth-ref: invalid $1 '$2'" >&2
    exit "${BUILD_FAILURE_EXIT_CODE:-1}"
}
JOB_ID=${CUSTOM_ENV_CI_JOB_ID:-}
PROJECT_ID=${CUSTOM_ENV_CI_PROJECT_ID:-}
PROJECT_PATH=${CUSTOM_ENV_CI_PROJECT_PATH:-}
[[ $JOB_ID =~ ^[0-9]{1,19}$ ]] || bad_input CUSTOM_ENV_CI_JOB_ID "$JOB_ID"
[[ $PROJECT_ID =~ ^[0-9]{1,19}$ ]] || bad_input CUSTOM_ENV_CI_PROJECT_ID "$PROJECT_ID"
if [[ ${#PROJECT_PATH} -gt 255 || $PROJECT_PATH == *..* ||
      ! $PROJECT_PATH =~ ^([A-Za-z0-9_][A-Za-z0-9_.-]*/)+[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]]; then
    bad_input CUSTOM_ENV_CI_PROJECT_PATH "$PROJECT_PATH"
fi

# shellcheck disable=SC2034
JOB_DIR="$state_dir/jobs/$JOB_ID"
