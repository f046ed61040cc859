#!/usr/bin/env bash
# Build the one `kube` binary (see main.go) into $1: stripped, reproducible paths, and the
# Kubernetes version stamped in the way upstream's build does (`kubectl version` and the API
# server's /version report it; the API server's emulation version follows it).
set -euo pipefail
out=${1:?usage: build.sh OUTPUT}
cd "$(dirname "$0")"
version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' go.mod)
[[ $version =~ ^v([0-9]+)\.([0-9]+)\. ]] || { echo "build.sh: no k8s.io/kubernetes version in go.mod" >&2; exit 1; }
major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
flags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  flags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
exec go build -trimpath -ldflags="$flags" -o "$out" .
