#!/bin/sh
# `make demo`: berth at work, in two parts, each in a temporary git repository.
#
# 1. A job: `berth exec` runs a small hello job through berth's own prepare, run and cleanup,
#    as GitLab Runner with the shell executor would. As root, the script runs as the job user
#    berth-job-1 (`make demo` creates it, scripts/job-users.sh), never as root, with berth's
#    state in the demo's own directory; as another user, as that user, with berth's usual
#    settings.
# 2. What a developer sees before pushing the seed's pipeline (examples/werf-deploy): the
#    pipeline, then a dry run of the deploy to test. The registry password and the kubeconfig
#    are made-up values that berth masks.
#
# Usage: scripts/demo.sh   (BERTH_BIN: the berth to run, default build/berth of this tree)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
berth=${BERTH_BIN:-$top/build/berth}
case $berth in /*) ;; *) berth=$(pwd)/$berth ;; esac
if [ ! -x "$berth" ]; then
  echo "demo.sh: no berth binary at $berth: run make, or set BERTH_BIN" >&2
  exit 2
fi
demo=$(mktemp -d "${TMPDIR:-/tmp}/berth-demo-XXXXXX")
trap 'rm -rf "$demo"' EXIT

# A git repository at $1 holding .gitlab-ci.yml read from stdin, with one commit.
new_repo() {
  mkdir "$1"
  cat > "$1/.gitlab-ci.yml"
  git -C "$1" init -q -b main
  git -C "$1" add .gitlab-ci.yml
  git -C "$1" -c user.name=Demo -c user.email=demo@example.com commit -qm "$2"
}

# --- 1. one job through berth's stages -------------------------------------------------------
# The quotes keep "running as: ..." a string: unquoted, YAML would read a mapping.
new_repo "$demo/hello" "Say hello" <<'EOF'
hello:
  variables:
    GREETING: hello from berth
  script:
    - echo "$GREETING"
    - 'echo "running as: $(id -un)"'
    - 'echo "workspace: $BERTH_JOB_DIR"'
    - 'echo "tmp: $TMPDIR"'
  after_script:
    - 'echo "after_script runs too, as $(id -un)"'
EOF
set --
if [ "$(id -u)" -eq 0 ]; then
  # The job user works in the repository: it needs to reach it, and nothing more.
  chmod 0711 "$demo"
  chmod -R go+rX "$demo/hello"
  printf 'state_dir: "%s/state"\njob_users: [berth-job-1]\n' "$demo" > "$demo/berth.yaml"
  set -- --config "$demo/berth.yaml"
fi

echo "berth demo: $berth"
echo
echo "\$ berth exec hello"
if (cd "$demo/hello" && "$berth" "$@" exec hello); then
  echo "job hello: succeeded"
else
  echo "job hello: FAILED" >&2
  exit 1
fi

# --- 2. the seed's pipeline, and a dry run of its deploy -------------------------------------
new_repo "$demo/frontend" "Deploy with werf" < "$top/examples/werf-deploy/.gitlab-ci.yml"
git -C "$demo/frontend" remote add origin git@gitlab.example.com:shop/frontend.git

kubeconfig=$(printf '%s\n' 'apiVersion: v1' 'kind: Config' 'clusters:' '- name: test' \
  '  cluster:' '    server: https://10.0.0.10:6443' 'users:' '- name: deployer' '  user:' \
  '    token: demo-token-not-real' 'contexts:' '- name: test' '  context:' '    cluster: test' \
  '    user: deployer' 'current-context: test' | base64 | tr -d '\n')
printf 'WERF_USERNAME=token\nWERF_PASSWORD=demo-password-not-real\nWERF_KUBECONFIG_BASE64=%s\n' \
  "$kubeconfig" > "$demo/frontend/.secrets.env"

cd "$demo/frontend"
echo
echo "\$ berth pipeline"
"$berth" pipeline
echo
echo "\$ berth dry-run 'Deploy to test' --vars-file .secrets.env --var SEL_REGISTRY_DOMAIN=cr.selcloud.ru --var SEL_REGISTRY=shop"
"$berth" dry-run "Deploy to test" --vars-file .secrets.env --var SEL_REGISTRY_DOMAIN=cr.selcloud.ru \
  --var SEL_REGISTRY=shop
