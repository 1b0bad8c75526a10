#!/usr/bin/env python3
"""Deploy the echo example, call it, show its logs and delete it, with the cortex Python client.

    pip install ./python
    python python/examples/quickstart.py                  # default environment of ~/.cortex/cli.yaml
    python python/examples/quickstart.py --env local
    python python/examples/quickstart.py --endpoint https://127.0.0.1:8888 --ca-file ca.pem
    python python/examples/quickstart.py --keep            # leave the API running

Exit status: 0 on success, 1 on a cortex error (the message names the cause; it never contains a
token or a secret).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import cortex

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SPEC = os.path.normpath(os.path.join(HERE, "..", "..", "examples", "echo", "cortex.yaml"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", help="environment name in cli.yaml (default: the default environment)")
    p.add_argument("--endpoint", help="operator URL, instead of an environment")
    p.add_argument("--ca-file", help="CA of the operator (with --endpoint)")
    p.add_argument("--spec", default=DEFAULT_SPEC, help="cortex.yaml to deploy (default: examples/echo)")
    p.add_argument("--api", default="echo", help="name of the API to call (default: echo)")
    p.add_argument("--keep", action="store_true", help="do not delete the API at the end")
    args = p.parse_args()

    try:
        if args.endpoint:
            c = cortex.client(endpoint=args.endpoint, ca_file=args.ca_file)
        else:
            c = cortex.client(args.env)
        with c:
            me = c.whoami()
            print(f"caller:   {me['arn']} (role {me['role']}, via {me['method']})")
            for r in c.deploy(args.spec):
                print(f"deploy:   {r['name']} {r['action']}")
            st = c.wait_for_api(args.api, timeout=120)
            print(f"endpoint: {st['endpoint']}")
            answer = c.call(args.api, {"text": "hello from Python"})
            print("answer:  ", json.dumps(answer))
            logs = c.logs(args.api)
            tail = logs.strip().splitlines()[-3:] if isinstance(logs, str) else []
            for line in tail:
                print(f"log:      {line}")
            if not args.keep:
                c.delete_api(args.api)
                print(f"deleted:  {args.api}")
    except cortex.AuthenticationError as e:
        print(f"not authenticated ({e.code}): {e.message}\n"
              "check your AWS credentials (aws sts get-caller-identity) and the environment", file=sys.stderr)
        return 1
    except cortex.PermissionDeniedError as e:
        print(f"your identity lacks the role for this: {e.message}", file=sys.stderr)
        return 1
    except cortex.CortexError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
