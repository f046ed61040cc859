#!/usr/bin/env bash
# Build the `tekton-check` binary (see main.go) into $1: stripped, reproducible paths.
set -euo pipefail
out=${1:?usage: build.sh OUTPUT}
cd "$(dirname "$0")"
exec go build -trimpath -ldflags='-s -w' -o "$out" .
