#!/usr/bin/env bash
# The main job on one machine, no cloud account, no Docker:
#   installs what is needed (scripts/setup.sh), starts the local cluster, trains the iris
#   classifier if needed, deploys it, calls it over HTTPS verified with the cluster's CA and
#   prints the prediction. The cluster keeps running; the last lines say how to stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >&2
export PATH="$PWD/bin:$PATH"
py="$PWD/.venv/bin/python"

echo "== cortex cluster up" >&2
cortex cluster up --python "$py" >&2

if [ ! -f examples/iris/model.pkl ]; then
  echo "== training the iris classifier" >&2
  "$py" examples/iris/train.py >&2
fi

echo "== cortex deploy examples/iris/cortex.yaml" >&2
cortex -e local deploy examples/iris/cortex.yaml >&2

endpoint=$(cortex -e local get iris -o json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["endpoint"])')
ca=$(cortex cluster info -o json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["state_dir"])')/tls/ca.pem

# The iris spec says auth: {type: api_key}: the gateway lets through only requests with a key for
# it. Make one (a key of an earlier run is revoked first); it is printed once, and kept here in a
# shell variable only.
echo "== cortex api-key create quickstart --api iris" >&2
cortex -e local api-key revoke quickstart >/dev/null 2>&1 || true
key=$(cortex -e local api-key create quickstart --api iris)

# The header goes to curl through a file descriptor (-H @file), not its argv: other users of the
# machine can read a process's arguments.
echo "== curl --cacert $ca -H 'Authorization: Bearer \$key' $endpoint -d @examples/iris/sample.json" >&2
prediction=$(curl --fail --silent --show-error --cacert "$ca" -H @<(printf 'Authorization: Bearer %s\n' "$key") \
  -H 'Content-Type: application/json' --data @examples/iris/sample.json "$endpoint")
echo "$prediction"

echo "== CORTEX_API_KEY=\$key cortex call iris @examples/iris/sample.json   (the same call, by the CLI)" >&2
CORTEX_API_KEY="$key" cortex -e local call iris @examples/iris/sample.json >&2
echo >&2

cat >&2 <<MSG

The iris API is live at $endpoint (TLS verified with $ca); it takes API keys.
  cortex get iris            # status, auth and how to call it
  cortex api-key list        # the keys (never the secrets); cortex api-key revoke quickstart
  cortex api-key create me --api iris --key-file iris.key
  cortex call iris --api-key @iris.key '{"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}'
  cortex logs iris --follow  # its logs
  cortex cluster down        # stop everything
MSG
