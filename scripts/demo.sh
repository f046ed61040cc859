#!/usr/bin/env bash
# The main job: build the sample churn notebook into a served model and show a prediction.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="$PWD/containers/containers.conf"
NB2SVC=.venv/bin/nb2svc
OUT=nb2svc-out/churn

"$NB2SVC" base --python 3.11
"$NB2SVC" build sample-notebooks/churn -o "$OUT"

out=$("$NB2SVC" run --report "$OUT/report.json" --port 8080)
url=$(head -n1 <<<"$out")
manifest=$(sed -n 's/^stop it with: podman kube down //p' <<<"$out")
trap '[ -n "$manifest" ] && podman kube down "$manifest" >/dev/null 2>&1 || true' EXIT
echo "serving at $url (the same Deployment a cluster would run, played with podman)"
body=$(.venv/bin/python -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["example_request"]))' "$OUT/report.json")
echo "POST $url/v1/models/churn:predict"
echo "  $body"
curl -sS -X POST -H 'Content-Type: application/json' -d "$body" "$url/v1/models/churn:predict"
echo
