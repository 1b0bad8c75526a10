"""An independent implementation of the DESIGN §2 token (plain hashlib/hmac, no botocore), used to
check that the botocore-based minter produces exactly the contract's request and serialization."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Optional

BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
CTYPE = "application/x-www-form-urlencoded; charset=utf-8"


def _h(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def authorization(akid: str, secret: str, session_token: Optional[str], host: str, region: str,
                  cluster_id: str, audience: str, amz_date: str) -> str:
    headers = {
        "content-length": str(len(BODY)),
        "content-type": CTYPE,
        "host": host,
        "x-amz-date": amz_date,
        "x-cortex-cluster-id": cluster_id,
        "x-cortex-audience": audience,
    }
    if session_token:
        headers["x-amz-security-token"] = session_token
    names = sorted(headers)
    canonical = "\n".join(
        ["POST", "/", ""]
        + [f"{n}:{headers[n]}" for n in names]
        + ["", ";".join(names), hashlib.sha256(BODY).hexdigest()]
    )
    day = amz_date[:8]
    scope = f"{day}/{region}/sts/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = _h(_h(_h(_h(("AWS4" + secret).encode(), day), region), "sts"), "aws4_request")
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    return f"AWS4-HMAC-SHA256 Credential={akid}/{scope}, SignedHeaders={';'.join(names)}, Signature={sig}"


def token(akid: str, secret: str, session_token: Optional[str], host: str, region: str,
          cluster_id: str, audience: str, amz_date: str) -> str:
    payload = {"host": host, "date": amz_date, "audience": audience,
               "authorization": authorization(akid, secret, session_token, host, region, cluster_id, audience,
                                              amz_date)}
    if session_token:
        payload["security_token"] = session_token
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return "cortex-aws-v2." + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
