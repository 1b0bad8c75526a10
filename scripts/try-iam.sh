#!/usr/bin/env bash
# The IAM path end to end on this machine, with moto standing in for AWS:
#   moto (IAM auth on) -> an IAM user and keys -> `cortex operator serve` bound to moto's STS ->
#   `cortex env configure` (CA pinned) -> `cortex whoami` and `cortex cluster access` over
#   verified TLS. Everything runs on 127.0.0.1 in a temp dir and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >&2
export PATH="$PWD/bin:$PATH"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
moto_port=$(port); op_port=$(port)

echo "== moto (AWS emulator, IAM auth on) on 127.0.0.1:$moto_port" >&2
INITIAL_NO_AUTH_ACTION_COUNT=3 .venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$moto_port/moto-api/data.json" >/dev/null && break; sleep 0.1; done

echo "== IAM users alice (the cluster's creator) and bob" >&2
.venv/bin/python - "$moto_port" "$work" <<'PY'
import json, sys, boto3
port, work = sys.argv[1], sys.argv[2]
url = f"http://127.0.0.1:{port}"
anon = boto3.client("iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x")
anon.create_user(UserName="alice")
key = anon.create_access_key(UserName="alice")["AccessKey"]
anon.put_user_policy(UserName="alice", PolicyName="admin", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
users = {"alice": key}
iam.create_user(UserName="bob")
users["bob"] = iam.create_access_key(UserName="bob")["AccessKey"]
for name, k in users.items():
    with open(f"{work}/{name}.env", "w") as f:
        f.write(f"export AWS_ACCESS_KEY_ID={k['AccessKeyId']} AWS_SECRET_ACCESS_KEY={k['SecretAccessKey']}\n")
PY
chmod 600 "$work"/*.env

echo "== cortex operator serve on https://127.0.0.1:$op_port (tokens verified by moto's STS)" >&2
cortex operator serve --state-dir "$work/operator" --listen "127.0.0.1:$op_port" \
  --sts-test-endpoint "http://127.0.0.1:$moto_port" --account-id 123456789012 \
  --creator-arn arn:aws:iam::123456789012:user/alice --auth-mode rules 2>"$work/operator.log" &
pids+=($!)
for _ in $(seq 100); do [ -f "$work/operator/operator.addr" ] && break; sleep 0.1; done

export CORTEX_CLI_CONFIG_DIR="$work/cli" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN
set -x
cortex env configure demo --operator-endpoint "https://127.0.0.1:$op_port" --ca-file "$work/operator/tls/ca.pem"
set +x
source "$work/alice.env"
set -x
cortex whoami
cortex cluster access grant arn:aws:iam::123456789012:user/bob --role read
cortex cluster access list
set +x
source "$work/bob.env"
set -x
cortex whoami
cortex cluster access list || echo "(bob has role read: access management needs admin, as expected)"
set +x
echo "== done; the operator's audit log has one JSON line per request, e.g.:" >&2
grep '"msg":"request"' "$work/operator.log" | tail -1 >&2
