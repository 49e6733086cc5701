#!/bin/bash
# /opt/berth-ref/config.sh: prints the JSON the runner expects, and nothing else on stdout.

currentDir="${BASH_SOURCE[0]%/*}"
# shellcheck source=base.sh source-path=SCRIPTDIR
source "${currentDir}/base.sh" # Get variables from base.

set -eo pipefail

# trap any error, and mark it as a system failure.
trap 'exit ${SYSTEM_FAILURE_EXIT_CODE:-2}' ERR

printf '%s\n' "{
  \"builds_dir\": \"$builds_dir\",
  \"cache_dir\": \"$cache_dir\",
  \"builds_dir_is_shared\": true,
  \"hostname\": \"$HOSTNAME\",
  \"driver\": {
    \"name\": \"berth-ref\",
    \"version\": \"v0.0.1\"
  },
  \"job_env\": {
    \"BERTH_JOB_DIR\": \"$JOB_DIR\"
  },
  \"shell\": \"bash\"
}"
