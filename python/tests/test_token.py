"""The identity token (DESIGN §2): exact serialization, exact SignedHeaders, the shared Go/Python
test vector, reuse rules, and real signature verification by moto (auth on)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat

import pytest
from botocore.credentials import ReadOnlyCredentials

import reference_sigv4 as ref
from conftest import REPO
from cortex import CredentialsError, ConfigError
from cortex.token import (
    STS_BODY,
    STS_CONTENT_TYPE,
    TokenSource,
    decode_token,
    mint_token,
    normalize_audience,
    parse_token_time,
    region_for_sts_host,
)

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION = "FwoGZXIvYXdzEXAMPLE//////////wEaDEXAMPLESESSIONTOKEN+/="
T0 = dt.datetime(2026, 1, 2, 3, 4, 5)
AUD = "https://operator.example.com:443"


def creds(session: str = "", akid: str = AKID) -> ReadOnlyCredentials:
    return ReadOnlyCredentials(akid, SECRET, session or None)


@pytest.mark.parametrize("session", ["", SESSION])
@pytest.mark.parametrize(
    "host,region",
    [
        ("sts.amazonaws.com", "us-east-1"),
        ("sts.eu-west-1.amazonaws.com", "eu-west-1"),
        ("sts.cn-north-1.amazonaws.com.cn", "cn-north-1"),
        ("sts-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
    ],
)
def test_matches_independent_reference(host, region, session):
    t = mint_token(creds(session), host=host, cluster_id="c-0123456789abcdef", audience=AUD, now=T0)
    want = ref.token(AKID, SECRET, session, host, region, "c-0123456789abcdef", AUD, "20260102T030405Z")
    assert t.token == want
    assert t.region == region


def test_serialization_exact():
    t = mint_token(creds(SESSION), host="sts.amazonaws.com", cluster_id="c1", audience=AUD, now=T0)
    assert t.token.startswith("cortex-aws-v2.")
    b64 = t.token[len("cortex-aws-v2."):]
    assert "=" not in b64 and "+" not in b64 and "/" not in b64
    raw = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
    # Keys in contract order, compact separators, security_token last.
    assert raw.startswith(
        b'{"host":"sts.amazonaws.com","date":"20260102T030405Z","audience":"https://operator.example.com:443",'
        b'"authorization":"AWS4-HMAC-SHA256 '
    )
    assert raw.endswith(b',"security_token":"' + SESSION.encode() + b'"}')
    assert b" :" not in raw and b": " not in raw
    d = json.loads(raw)
    assert list(d) == ["host", "date", "audience", "authorization", "security_token"]


def test_no_security_token_key_without_session():
    d = decode_token(mint_token(creds(), host="sts.amazonaws.com", cluster_id="c1", audience=AUD, now=T0).token)
    assert list(d) == ["host", "date", "audience", "authorization"]


@pytest.mark.parametrize(
    "session,signed",
    [
        ("", "content-length;content-type;host;x-amz-date;x-cortex-audience;x-cortex-cluster-id"),
        (SESSION, "content-length;content-type;host;x-amz-date;x-amz-security-token;x-cortex-audience;x-cortex-cluster-id"),
    ],
)
def test_signed_headers_exact(session, signed):
    d = decode_token(mint_token(creds(session), host="sts.amazonaws.com", cluster_id="c1", audience=AUD, now=T0).token)
    a = d["authorization"]
    assert a.startswith(f"AWS4-HMAC-SHA256 Credential={AKID}/20260102/us-east-1/sts/aws4_request, ")
    assert f", SignedHeaders={signed}, Signature=" in a
    sig = a.rsplit("Signature=", 1)[1]
    assert len(sig) == 64 and all(c in "0123456789abcdef" for c in sig)
    assert d["date"] == "20260102T030405Z"


def test_aware_datetime_and_microseconds():
    aware = dt.datetime(2026, 1, 2, 4, 4, 5, 999999, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    a = mint_token(creds(), host="sts.amazonaws.com", cluster_id="c1", audience=AUD, now=aware).token
    b = mint_token(creds(), host="sts.amazonaws.com", cluster_id="c1", audience=AUD, now=T0).token
    assert a == b


def test_cluster_id_is_bound():
    a = mint_token(creds(), host="sts.amazonaws.com", cluster_id="c1", audience=AUD, now=T0).token
    b = mint_token(creds(), host="sts.amazonaws.com", cluster_id="c2", audience=AUD, now=T0).token
    assert decode_token(a)["authorization"] != decode_token(b)["authorization"]


def test_region_table():
    assert region_for_sts_host("sts.amazonaws.com") == "us-east-1"
    assert region_for_sts_host("sts.ap-southeast-2.amazonaws.com") == "ap-southeast-2"
    assert region_for_sts_host("sts.cn-northwest-1.amazonaws.com.cn") == "cn-northwest-1"
    assert region_for_sts_host("sts-fips.us-east-2.amazonaws.com") == "us-east-2"
    assert region_for_sts_host("sts.us-gov-west-1.amazonaws.com") == "us-gov-west-1"
    for bad in ("127.0.0.1:5000", "sts.amazonaws.com.evil.com", "evil.sts.amazonaws.com", "sts..amazonaws.com", "",
                "sts.us-east-1.amazonaws.com\n"):
        assert region_for_sts_host(bad) is None


def test_region_required_for_non_aws_host_and_must_match():
    with pytest.raises(ConfigError):
        mint_token(creds(), host="127.0.0.1:5000", cluster_id="c1", audience=AUD, now=T0)
    t = mint_token(creds(), host="127.0.0.1:5000", region="us-east-1", scheme="http", cluster_id="c1", audience=AUD, now=T0)
    assert t.token == ref.token(AKID, SECRET, "", "127.0.0.1:5000", "us-east-1", "c1", AUD, "20260102T030405Z")
    with pytest.raises(ConfigError):
        mint_token(creds(), host="sts.eu-west-1.amazonaws.com", region="us-east-1", cluster_id="c1", audience=AUD, now=T0)


def test_missing_credentials():
    with pytest.raises(CredentialsError):
        mint_token(ReadOnlyCredentials("", "", None), host="sts.amazonaws.com", cluster_id="c1", audience=AUD, now=T0)


def test_repr_hides_token():
    t = mint_token(creds(SESSION), host="sts.amazonaws.com", cluster_id="c1", audience=AUD, now=T0)
    r = repr(t)
    assert "cortex-aws-v2" not in r and SESSION not in r and "Signature" not in r


# -- shared vector with the Go minter ------------------------------------------------------------

VECTORS = os.path.join(REPO, "testdata", "token_vectors.json")


def _vectors():
    if not os.path.exists(VECTORS):
        return []
    with open(VECTORS) as f:
        return json.load(f)["vectors"]


def test_shared_vectors_present():
    assert len(_vectors()) >= 2
    assert any(v["session_token"] for v in _vectors()) and any(not v["session_token"] for v in _vectors())


@pytest.mark.parametrize("v", _vectors(), ids=lambda v: v["name"])
def test_shared_vector(v):
    """Mint with the vector's fixed credentials and clock: must be byte-identical to Go's token."""
    c = ReadOnlyCredentials(v["access_key_id"], v["secret_access_key"], v["session_token"] or None)
    t = mint_token(
        c,
        host=v["host"],
        region=v["region"],
        cluster_id=v["cluster_id"],
        audience=v["audience"],
        scheme="http" if v["host"].startswith("127.0.0.1") else "https",
        now=parse_token_time(v["time"]),
    )
    if t.token != v["token"]:
        got, want = decode_token(t.token), decode_token(v["token"])
        assert got == want  # shows the differing field
        assert list(got) == list(want)
    assert t.token == v["token"]
    # And the independent reference agrees with both.
    amz = parse_token_time(v["time"]).strftime("%Y%m%dT%H%M%SZ")
    assert ref.token(c.access_key, c.secret_key, c.token, v["host"], v["region"], v["cluster_id"], v["audience"], amz) == v["token"]


# -- reuse ---------------------------------------------------------------------------------------


class Clock:
    def __init__(self, t: dt.datetime) -> None:
        self.t = t

    def __call__(self) -> dt.datetime:
        return self.t


def test_reuse_while_more_than_60s_left():
    clock = Clock(T0)
    cur = {"c": creds()}
    ts = TokenSource(lambda: cur["c"], host="sts.amazonaws.com", cluster_id="c1", audience=AUD, clock=clock)
    t1 = ts.token()
    clock.t = T0 + dt.timedelta(seconds=239)  # 61 s left
    assert ts.token() == t1
    clock.t = T0 + dt.timedelta(seconds=240)  # 60 s left: renew
    t2 = ts.token()
    assert t2 != t1 and decode_token(t2)["date"] == "20260102T030805Z"
    # A different access key (refreshed/rotated credentials) never reuses the old token.
    cur["c"] = creds(akid="AKIDOTHER")
    t3 = ts.token()
    assert t3 != t2 and "Credential=AKIDOTHER/" in decode_token(t3)["authorization"]
    assert ts.token(force_new=False) == t3
    # A clock that went backwards past the token's date does not reuse it either.
    clock.t = T0 - dt.timedelta(minutes=5)
    assert ts.token() != t3


def test_file_cache_private_and_shared(tmp_path):
    cache = tmp_path / "cfg" / "tokens" / "py-prod.json"
    clock = Clock(T0)
    ts = TokenSource(lambda: creds(), host="sts.amazonaws.com", cluster_id="c1", audience=AUD, clock=clock, cache_path=str(cache))
    t1 = ts.token()
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cache.parent).st_mode) == 0o700
    # Another process (a new TokenSource) reuses it...
    clock2 = Clock(T0 + dt.timedelta(seconds=100))
    ts2 = TokenSource(lambda: creds(), host="sts.amazonaws.com", cluster_id="c1", audience=AUD, clock=clock2, cache_path=str(cache))
    assert ts2.token() == t1
    # ...but not for another cluster id,
    ts3 = TokenSource(lambda: creds(), host="sts.amazonaws.com", cluster_id="c2", audience=AUD, clock=clock2, cache_path=str(cache))
    assert ts3.token() != t1
    # ...and not from a file others can read (it is replaced by a fresh, private one).
    os.chmod(cache, 0o644)
    ts5 = TokenSource(lambda: creds(), host="sts.amazonaws.com", cluster_id="c2", audience=AUD,
                      clock=Clock(T0 + dt.timedelta(seconds=110)), cache_path=str(cache))
    assert decode_token(ts5.token())["date"] == "20260102T030555Z"
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600


def test_token_source_without_credentials():
    ts = TokenSource(lambda: None, host="sts.amazonaws.com", cluster_id="c1", audience=AUD)
    with pytest.raises(CredentialsError):
        ts.token()


# -- moto verifies the signature for real --------------------------------------------------------


def rebuild(token: str, cluster_id: str, audience: str = AUD) -> dict:
    """The request the operator rebuilds from a token (DESIGN §2): only date/authorization/security
    token come from the client; the cluster id and audience are the operator's own."""
    d = decode_token(token)
    h = {
        "Host": d["host"],
        "Content-Type": STS_CONTENT_TYPE,
        "X-Amz-Date": d["date"],
        "Authorization": d["authorization"],
        "X-Cortex-Cluster-Id": cluster_id,
        "X-Cortex-Audience": audience,
    }
    if "security_token" in d:
        h["X-Amz-Security-Token"] = d["security_token"]
    return h


def _mint_for(moto, key, cluster_id="cluster-a"):
    c = ReadOnlyCredentials(key.access_key_id, key.secret_access_key, key.session_token or None)
    return mint_token(c, host=moto.host, region="us-east-1", scheme="http", cluster_id=cluster_id, audience=AUD).token


def test_moto_accepts_user_token(moto):
    r = moto.get_caller_identity(rebuild(_mint_for(moto, moto.users["alice"]), "cluster-a"), STS_BODY.encode())
    assert r.status_code == 200, r.text
    assert "<Arn>arn:aws:iam::123456789012:user/alice</Arn>" in r.text


def test_moto_accepts_session_token(moto):
    key = moto.assume_role("alice", "py-session")
    r = moto.get_caller_identity(rebuild(_mint_for(moto, key), "cluster-a"), STS_BODY.encode())
    assert r.status_code == 200, r.text
    assert f"<Arn>{key.arn}</Arn>" in r.text


def test_moto_refuses_other_cluster_id(moto):
    tok = _mint_for(moto, moto.users["alice"], cluster_id="cluster-a")
    r = moto.get_caller_identity(rebuild(tok, "cluster-b"), STS_BODY.encode())
    assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text


def test_moto_refuses_forged_signature(moto):
    key = moto.users["alice"]
    forged = type(key)(key.access_key_id, "not-the-secret")
    r = moto.get_caller_identity(rebuild(_mint_for(moto, forged), "cluster-a"), STS_BODY.encode())
    assert r.status_code == 403


def test_moto_refuses_wrong_session_token(moto):
    key = moto.assume_role("alice", "py-session2")
    key.session_token = key.session_token[:-4] + "AAAA"
    r = moto.get_caller_identity(rebuild(_mint_for(moto, key), "cluster-a"), STS_BODY.encode())
    assert r.status_code == 403


def test_moto_refuses_other_audience(moto):
    """A token minted for another endpoint, replayed to this operator: the operator rebuilds the
    request with its own audience, and the signature no longer matches."""
    c = ReadOnlyCredentials(moto.users["alice"].access_key_id, moto.users["alice"].secret_access_key, None)
    tok = mint_token(c, host=moto.host, region="us-east-1", scheme="http", cluster_id="cluster-a",
                     audience="https://relay.example.net").token
    r = moto.get_caller_identity(rebuild(tok, "cluster-a"), STS_BODY.encode())
    assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text
    r = moto.get_caller_identity(rebuild(tok, "cluster-a", "https://relay.example.net:443"), STS_BODY.encode())
    assert r.status_code == 200, r.text


# -- audience ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,want",
    [
        ("https://operator.example.com", "https://operator.example.com:443"),
        ("https://Operator.Example.COM:8888/", "https://operator.example.com:8888"),
        ("HTTPS://127.0.0.1:8888", "https://127.0.0.1:8888"),
        ("https://[::1]:9443", "https://[::1]:9443"),
        ("https://[2001:DB8::1]", "https://[2001:db8::1]:443"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://localhost", "http://localhost:80"),
    ],
)
def test_normalize_audience_matches_go(raw, want):
    # The same table as Go's TestNormalizeAudience: both clients must bind to the same string.
    assert normalize_audience(raw) == want
    assert normalize_audience(want) == want


@pytest.mark.parametrize(
    "bad",
    [
        "", "operator.example.com", "ftp://operator.example.com", "https://", "https://:443",
        "https://user@operator.example.com", "https://operator.example.com/v1", "https://operator.example.com?x=1",
        "https://operator.example.com#f", "https://operator.example.com:0", "https://operator.example.com:65536",
        "https://operator.example.com:0443", "https://operator.example.com:", "https://op_erator.example.com",
        "https://operator.example.com.", "https://op..example.com", "https://[fe80::1%25eth0]:443",
        "https://operator.example.com\r\n:443", "https://opérateur.example.com", "https://operator.example.com?",
        "https://operator.example.com\n", "https://operator.example.com\n/",  # Python's `$` matches before \n
    ],
)
def test_normalize_audience_refuses(bad):
    with pytest.raises(ConfigError):
        normalize_audience(bad)


def test_audience_is_bound_and_cache_is_per_audience(tmp_path):
    a = mint_token(creds(), host="sts.amazonaws.com", cluster_id="c1", audience="https://a.example.com", now=T0)
    b = mint_token(creds(), host="sts.amazonaws.com", cluster_id="c1", audience="https://b.example.com", now=T0)
    assert decode_token(a.token)["audience"] == "https://a.example.com:443"
    assert decode_token(a.token)["authorization"] != decode_token(b.token)["authorization"]
    cache = tmp_path / "tokens" / "py-prod.json"
    clock = Clock(T0)
    t1 = TokenSource(lambda: creds(), host="sts.amazonaws.com", cluster_id="c1", audience="https://a.example.com",
                     clock=clock, cache_path=str(cache)).token()
    clock.t = T0 + dt.timedelta(seconds=10)
    same = TokenSource(lambda: creds(), host="sts.amazonaws.com", cluster_id="c1",
                       audience="https://A.example.com:443", clock=clock, cache_path=str(cache)).token()
    assert same == t1
    other = TokenSource(lambda: creds(), host="sts.amazonaws.com", cluster_id="c1", audience="https://b.example.com",
                        clock=clock, cache_path=str(cache)).token()
    assert other != t1 and decode_token(other)["audience"] == "https://b.example.com:443"
