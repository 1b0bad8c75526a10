"""Identity tokens (DESIGN §2, wire contract v2), minted exactly as the Go client mints them.

A token is a header-signed STS ``GetCallerIdentity`` request, bound to a cluster through the signed
``X-Cortex-Cluster-Id`` header and to the endpoint the client dials through the signed
``X-Cortex-Audience`` header, serialized as::

    cortex-aws-v2.<base64url, no padding, of
        {"host":..,"date":..,"audience":..,"authorization":..[,"security_token":..]}>

The operator refuses an audience that is not one of its own public endpoints, then rebuilds the
request from its own allowlisted host, fixed body, its own cluster id and audience, and the token's
date/authorization/security token, and sends it to STS. Tokens are accepted for five minutes after
their date; :class:`TokenSource` reuses one while it has more than 60 s left and everything it is
bound to (cluster id, STS host and region, audience, access key id) is unchanged.
"""

from __future__ import annotations

import base64
import datetime as _dt
import ipaddress
import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials

from .errors import ConfigError, CredentialsError

__all__ = [
    "TOKEN_PREFIX",
    "LOCAL_TOKEN_PREFIX",
    "STS_BODY",
    "STS_CONTENT_TYPE",
    "TOKEN_LIFETIME",
    "REUSE_MARGIN",
    "region_for_sts_host",
    "normalize_audience",
    "mint_token",
    "decode_token",
    "MintedToken",
    "TokenSource",
]

TOKEN_PREFIX = "cortex-aws-v2."
LOCAL_TOKEN_PREFIX = "cortex-local-v1."
STS_BODY = "Action=GetCallerIdentity&Version=2011-06-15"
STS_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
CLUSTER_ID_HEADER = "X-Cortex-Cluster-Id"
AUDIENCE_HEADER = "X-Cortex-Audience"
# The operator accepts a token for this long after its date.
TOKEN_LIFETIME = _dt.timedelta(minutes=5)
# A cached token is reused only while it has more than this left.
REUSE_MARGIN = _dt.timedelta(seconds=60)
_AMZ_DATE = "%Y%m%dT%H%M%SZ"

_SIGNED_HEADERS = ["content-length", "content-type", "host", "x-amz-date", "x-cortex-audience", "x-cortex-cluster-id"]

_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d+"
_STS_HOST_PATTERNS = [
    # Matched with fullmatch: `$` would also match before a trailing newline.
    re.compile(rf"sts\.({_REGION})\.amazonaws\.com"),
    re.compile(rf"sts-fips\.({_REGION})\.amazonaws\.com"),
    re.compile(rf"sts\.({_REGION})\.amazonaws\.com\.cn"),
]


def region_for_sts_host(host: str) -> Optional[str]:
    """Return the signing region of an official AWS STS host, or ``None`` for any other host.

    ``sts.amazonaws.com`` (the global endpoint) signs for us-east-1. Hosts are compared exactly,
    as the operator compares them (no case folding).
    """
    h = host
    if h == "sts.amazonaws.com":
        return "us-east-1"
    for pat in _STS_HOST_PATTERNS:
        m = pat.fullmatch(h)
        if m:
            return m.group(1)
    return None


_DNS_NAME = re.compile(r"[a-z0-9.-]+")  # whole strings only: always fullmatch


def normalize_audience(endpoint: str) -> str:
    """The audience of an endpoint URL, exactly as the Go client and the operator write it.

    ``scheme://host:port``: scheme and host lower-cased, the port always explicit (443/80 filled
    in), an IPv6 literal in brackets; user info, a path, a query or a fragment are refused.
    """
    bad = ConfigError(f"invalid endpoint {endpoint!r}: want https://host[:port]")
    m = re.fullmatch(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(/?)", endpoint)
    if not m:
        raise bad
    scheme, netloc = m.group(1).lower(), m.group(2)
    default_port = {"https": "443", "http": "80"}.get(scheme)
    if default_port is None or "@" in netloc:
        raise bad
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise bad
        host, rest = netloc[1:end].lower(), netloc[end + 1 :]
        if "%" in host:  # no IPv6 zones
            raise bad
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise bad from None
    else:
        host, sep, port_part = netloc.partition(":")
        host = host.lower()
        rest = sep + port_part
        if not host or ":" in port_part:
            raise bad
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            if (
                len(host) > 253
                or not _DNS_NAME.fullmatch(host)
                or host.startswith(".")
                or host.endswith(".")
                or ".." in host
            ):
                raise bad from None
    if rest == "":
        port = default_port
    elif rest.startswith(":") and rest[1:].isdigit() and rest[1:].isascii():
        port = rest[1:]
        if str(int(port)) != port or not 1 <= int(port) <= 65535:
            raise bad
    else:
        raise bad
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def _utc(t: _dt.datetime) -> _dt.datetime:
    """Naive UTC datetime from an aware or naive (assumed UTC) datetime."""
    if t.tzinfo is not None:
        t = t.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return t.replace(microsecond=0)


class _FixedClockSigV4Auth(SigV4Auth):
    """botocore's SigV4 signer with the signing time supplied by the caller.

    Only the source of the timestamp differs from :meth:`SigV4Auth.add_auth`; canonicalization,
    header selection and signature computation are botocore's own.
    """

    def __init__(self, credentials: ReadOnlyCredentials, region: str, when: _dt.datetime) -> None:
        super().__init__(
            Credentials(credentials.access_key or "", credentials.secret_key or "", credentials.token), "sts", region
        )
        self._when = when

    def add_auth(self, request: AWSRequest) -> None:
        request.context["timestamp"] = self._when.strftime(_AMZ_DATE)
        self._modify_request_before_signing(request)  # type: ignore[attr-defined]  # botocore's own step
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        signature = self.signature(string_to_sign, request)
        self._inject_signature_to_request(request, signature)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class MintedToken:
    """A minted token and what it is bound to. ``repr`` never shows the token itself."""

    token: str
    date: _dt.datetime  # naive UTC
    access_key_id: str
    host: str
    region: str
    cluster_id: str
    audience: str

    @property
    def expires(self) -> _dt.datetime:
        return self.date + TOKEN_LIFETIME

    def usable(self, now: _dt.datetime, access_key_id: str) -> bool:
        """True if this token may be reused at ``now`` for credentials with ``access_key_id``."""
        now = _utc(now)
        return (
            access_key_id == self.access_key_id
            and now >= self.date - _dt.timedelta(minutes=1)
            and self.expires - now > REUSE_MARGIN
        )

    def __repr__(self) -> str:
        return (
            f"MintedToken(date={self.date.isoformat()}Z, host={self.host!r}, region={self.region!r}, "
            f"cluster_id={self.cluster_id!r}, audience={self.audience!r}, token=[redacted])"
        )


def mint_token(
    credentials: ReadOnlyCredentials,
    *,
    host: str,
    cluster_id: str,
    audience: str,
    region: Optional[str] = None,
    scheme: str = "https",
    now: Optional[_dt.datetime] = None,
) -> MintedToken:
    """Mint a ``cortex-aws-v2`` token for ``cluster_id`` and ``audience`` with the given (frozen)
    credentials.

    ``audience`` is the URL of the server the token is for, as this client dials it (the
    operator's endpoint): never a value a server announced. ``region`` defaults to the region of ``host`` (an official STS host); it is required for any
    other host (an operator's STS test endpoint). ``now`` fixes the clock (UTC), for test vectors.
    """
    if not credentials or not credentials.access_key or not credentials.secret_key:
        raise CredentialsError("no AWS credentials to sign the identity token with")
    if not host or "/" in host or any(c.isspace() for c in host):
        raise ConfigError(f"invalid STS host {host!r}")
    if not cluster_id:
        raise ConfigError("the environment has no cluster id; run `cortex env configure` again")
    audience = normalize_audience(audience)
    host_region = region_for_sts_host(host)
    if region is None:
        region = host_region
    if region is None:
        raise ConfigError(f"STS host {host!r} is not an AWS STS host; its signing region must be given")
    if host_region is not None and host_region != region:
        raise ConfigError(f"STS host {host!r} signs for region {host_region}, not {region}")
    if scheme not in ("https", "http"):
        raise ConfigError(f"invalid STS scheme {scheme!r}")
    when = _utc(now if now is not None else _dt.datetime.now(_dt.timezone.utc))

    body = STS_BODY.encode("ascii")
    headers = {
        "Host": host,
        "Content-Type": STS_CONTENT_TYPE,
        "Content-Length": str(len(body)),
        CLUSTER_ID_HEADER: cluster_id,
        AUDIENCE_HEADER: audience,
    }
    request = AWSRequest(method="POST", url=f"{scheme}://{host}/", headers=headers, data=body)
    signer = _FixedClockSigV4Auth(credentials, region, when)
    signer.add_auth(request)

    authorization = request.headers["Authorization"]
    date = request.headers["X-Amz-Date"]
    want = list(_SIGNED_HEADERS)
    if credentials.token:
        want = sorted(want + ["x-amz-security-token"])
    signed = _signed_headers_of(authorization)
    if signed != ";".join(want):
        # botocore decides which headers it signs; the contract fixes the list exactly.
        raise AssertionError(f"botocore signed headers {signed!r}, contract requires {';'.join(want)!r}")
    if date != when.strftime(_AMZ_DATE):
        raise AssertionError("botocore used a different signing date")

    payload = {"host": host, "date": date, "audience": audience, "authorization": authorization}
    if credentials.token:
        payload["security_token"] = credentials.token
    raw = _go_json(payload).encode("ascii")
    token = TOKEN_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    return MintedToken(token, when, credentials.access_key, host, region, cluster_id, audience)


def _go_json(obj: Dict[str, str]) -> str:
    """Compact JSON exactly as Go's encoding/json writes it (keys in insertion order).

    Go additionally escapes ``<``, ``>``, ``&``, U+2028 and U+2029; none occur in the token's values
    in practice, but escaping them the same way keeps both minters byte-identical on any input.
    """
    s = json.dumps(obj, separators=(",", ":"), ensure_ascii=True)
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _signed_headers_of(authorization: str) -> str:
    m = re.search(r"SignedHeaders=([^,\s]+)", authorization)
    return m.group(1) if m else ""


def decode_token(token: str) -> Dict[str, Any]:
    """Decode a ``cortex-aws-v2`` token into its JSON object (for tests and debugging)."""
    if not token.startswith(TOKEN_PREFIX):
        raise ValueError("not a cortex-aws-v2 token")
    b = token[len(TOKEN_PREFIX):]
    raw = base64.urlsafe_b64decode(b + "=" * (-len(b) % 4))
    out = json.loads(raw)
    if not isinstance(out, dict):
        raise ValueError("token payload is not a JSON object")
    return out


CredentialsProvider = Callable[[], Optional[ReadOnlyCredentials]]


class TokenSource:
    """Mints tokens for one operator and reuses them while valid.

    ``credentials`` returns the current frozen credentials (botocore resolves and refreshes them).
    When ``cache_path`` is given the current token is also kept there (mode 0600, directory 0700), so
    separate processes reuse it like the CLI does.
    """

    def __init__(
        self,
        credentials: CredentialsProvider,
        *,
        host: str,
        cluster_id: str,
        audience: str,
        region: Optional[str] = None,
        scheme: str = "https",
        cache_path: Optional[str] = None,
        clock: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.timezone.utc),
    ) -> None:
        self._credentials = credentials
        self.host = host
        self.cluster_id = cluster_id
        self.audience = normalize_audience(audience)
        self.region = region if region else region_for_sts_host(host)
        self.scheme = scheme or "https"
        self.cache_path = cache_path
        self._clock = clock
        self._lock = threading.Lock()
        self._current: Optional[MintedToken] = None

    def __repr__(self) -> str:
        return (
            f"TokenSource(host={self.host!r}, region={self.region!r}, cluster_id={self.cluster_id!r}, "
            f"audience={self.audience!r})"
        )

    def _frozen(self) -> ReadOnlyCredentials:
        try:
            creds = self._credentials()
        except CredentialsError:
            raise
        except Exception as e:  # botocore raises many kinds (SSO expired, profile not found, ...)
            raise CredentialsError(f"cannot resolve AWS credentials: {type(e).__name__}: {e}") from None
        if creds is None or not creds.access_key or not creds.secret_key:
            raise CredentialsError(
                "no AWS credentials found (environment, AWS_PROFILE, shared config/credentials, SSO, "
                "instance role); configure them or pass a profile"
            )
        return creds

    def _matches(self, t: MintedToken) -> bool:
        return (
            t.host == self.host
            and t.region == self.region
            and t.cluster_id == self.cluster_id
            and t.audience == self.audience
        )

    def token(self, force_new: bool = False) -> str:
        """Return a token valid for at least 60 more seconds, minting a new one when needed."""
        return self.get(force_new)[0]

    def get(self, force_new: bool = False) -> Tuple[str, bool]:
        """Like :meth:`token`, also saying whether the token was freshly minted (not reused)."""
        with self._lock:
            creds = self._frozen()
            now = _utc(self._clock())
            if not force_new:
                cand = self._current if self._current is not None else self._load()
                if cand is not None and self._matches(cand) and cand.usable(now, creds.access_key or ""):
                    self._current = cand
                    return cand.token, False
            minted = mint_token(
                creds,
                host=self.host,
                cluster_id=self.cluster_id,
                audience=self.audience,
                region=self.region,
                scheme=self.scheme,
                now=now,
            )
            self._current = minted
            self._store(minted)
            return minted.token, True

    def invalidate(self) -> None:
        """Forget the cached token (after the operator refused it)."""
        with self._lock:
            self._current = None
            if self.cache_path:
                try:
                    os.remove(self.cache_path)
                except OSError:
                    pass

    # -- file cache -----------------------------------------------------------------------------

    def _load(self) -> Optional[MintedToken]:
        if not self.cache_path:
            return None
        try:
            st = os.stat(self.cache_path)
            if st.st_mode & 0o077:
                return None  # not private: do not trust (or use) it
            with open(self.cache_path, "r", encoding="utf-8") as f:
                d = json.load(f)
            return MintedToken(
                token=str(d["token"]),
                date=_dt.datetime.strptime(d["date"], _AMZ_DATE),
                access_key_id=str(d["access_key_id"]),
                host=str(d["host"]),
                region=str(d["region"]),
                cluster_id=str(d["cluster_id"]),
                audience=str(d["audience"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _store(self, t: MintedToken) -> None:
        if not self.cache_path:
            return
        data = json.dumps(
            {
                "token": t.token,
                "date": t.date.strftime(_AMZ_DATE),
                "access_key_id": t.access_key_id,
                "host": t.host,
                "region": t.region,
                "cluster_id": t.cluster_id,
                "audience": t.audience,
            }
        )
        try:
            write_private_file(self.cache_path, data.encode("utf-8"))
        except OSError:
            pass  # the cache is an optimization; an unwritable directory must not break calls


def write_private_file(path: str, data: bytes) -> None:
    """Atomically write ``data`` to ``path`` with mode 0600 inside a 0700 directory."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, mode=0o700, exist_ok=True)
    os.chmod(d, 0o700)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".tmp-", dir=d)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def parse_token_time(s: str) -> _dt.datetime:
    """Parse an RFC 3339 UTC time like ``2026-01-02T03:04:05Z`` into a naive UTC datetime."""
    t = _dt.datetime.strptime(s.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
    return _utc(t)
