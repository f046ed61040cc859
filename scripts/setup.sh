#!/usr/bin/env bash
# Set up a fresh Debian 12 machine (as root) for nb2svc: system packages, a project
# virtualenv in .venv with nb2svc and its dev tools. Idempotent: re-running is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(buildah podman runc debootstrap wrk git python3 python3-venv ca-certificates uidmap fuse-overlayfs
  docker-registry apache2-utils openssl  # the tests' own registry (tests/registry_support.py)
  shellcheck)  # actionlint checks the GitHub action's scripts with it (tests/integration)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# docker-registry (CNCF distribution, /usr/bin/docker-registry) starts a registry on :5000 of
# its own where systemd runs; the tests start theirs on 127.0.0.1 with TLS and htpasswd.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi

# uv and pip talk to PyPI through the host's CA bundle.
export UV_SYSTEM_CERTS=1
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# Tools and test dependencies at the versions in constraints-dev.txt (what CI proved).
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/pip install -q "$(grep '^uv==' constraints-dev.txt)"
fi
stamp=.venv/.nb2svc-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints-dev.txt -nt "$stamp" ]; then
  .venv/bin/uv pip install -q --python .venv/bin/python -e '.[dev]' -c constraints-dev.txt
  touch "$stamp"
fi
echo "setup: ok ($(.venv/bin/python --version), $(buildah --version | cut -d' ' -f1-3), podman $(podman --version | cut -d' ' -f3))"
