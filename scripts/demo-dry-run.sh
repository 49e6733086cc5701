#!/bin/sh
# `make demo`, second half: what a developer sees before pushing the seed's pipeline
# (examples/werf-deploy): the pipeline, then a dry run of the deploy to test. Everything happens
# in a temporary git repository; the registry password and the kubeconfig are made-up values
# that berth masks.
set -eu
berth=${BERTH_BIN:-build/berth}
case $berth in /*) ;; *) berth=$(pwd)/$berth ;; esac
example=$(pwd)/examples/werf-deploy/.gitlab-ci.yml
repo=$(mktemp -d "${TMPDIR:-/tmp}/berth-demo-XXXXXX")
trap 'rm -rf "$repo"' EXIT

cd "$repo"
git init -q -b main
cp "$example" .gitlab-ci.yml
git add .gitlab-ci.yml
git -c user.name=Demo -c user.email=demo@example.com commit -qm "Deploy with werf"
git remote add origin git@gitlab.example.com:shop/frontend.git

kubeconfig=$(printf '%s\n' 'apiVersion: v1' 'kind: Config' 'clusters:' '- name: test' \
  '  cluster:' '    server: https://10.0.0.10:6443' 'users:' '- name: deployer' '  user:' \
  '    token: demo-token-not-real' 'contexts:' '- name: test' '  context:' '    cluster: test' \
  '    user: deployer' 'current-context: test' | base64 | tr -d '\n')
printf 'WERF_USERNAME=token\nWERF_PASSWORD=demo-password-not-real\nWERF_KUBECONFIG_BASE64=%s\n' \
  "$kubeconfig" > "$repo/.secrets.env"

echo "\$ berth pipeline"
"$berth" pipeline
echo
echo "\$ berth dry-run 'Deploy to test' --vars-file .secrets.env --var SEL_REGISTRY_DOMAIN=cr.selcloud.ru --var SEL_REGISTRY=shop"
"$berth" dry-run "Deploy to test" --vars-file .secrets.env --var SEL_REGISTRY_DOMAIN=cr.selcloud.ru \
  --var SEL_REGISTRY=shop
