"""The operator client: :func:`client` builds a :class:`Client` for an environment of cli.yaml or
for an operator endpoint, and every method is one call of the operator's HTTP API."""

from __future__ import annotations

import datetime as _dt
import json
import os
import stat
import tempfile
import threading
import time
import weakref
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import quote, urlsplit

import requests

from . import __version__ as _version
from .bundle import read_project
from .config import AUTH_AWS, AUTH_LOCAL, Environment, load_config
from .errors import (
    APICallError,
    AuthenticationError,
    ConfigError,
    CortexError,
    CredentialsError,
    OperatorError,
    ProjectError,
    TransportError,
    operator_error,
    redact,
)
from .token import LOCAL_TOKEN_PREFIX, TokenSource, normalize_audience

__all__ = ["Client", "client"]

Spec = Union[str, "os.PathLike[str]", Mapping[str, Any], Sequence[Mapping[str, Any]]]

DEFAULT_TIMEOUT = 30.0
API_KEY_ENV = "CORTEX_API_KEY"  # the API key of call() when api_key= is not given
_MAX_ERROR_BODY = 64 * 1024
_ROLES = ("read", "deploy", "admin")


def client(
    env: Optional[str] = None,
    *,
    endpoint: Optional[str] = None,
    ca_file: Optional[str] = None,
    ca_cert: Optional[str] = None,
    aws_profile: Optional[str] = None,
    botocore_session: Any = None,
    local_token_file: Optional[str] = None,
    config_dir: Optional[str] = None,
    timeout: float = DEFAULT_TIMEOUT,
    cache_tokens: bool = True,
    public_ca_bundle: Optional[str] = None,
) -> "Client":
    """Return a client for an environment of cli.yaml, or for an operator given by ``endpoint``.

    ``cortex.client()`` uses the default environment, ``cortex.client("local")`` a named one.
    ``cortex.client(endpoint="https://...", ca_file="ca.pem")`` talks to an operator that is not in
    cli.yaml; it asks the operator (``GET /v1/auth``) which cluster id and STS host to sign for.
    ``ca_file`` (a path) or ``ca_cert`` (PEM text) pins the CA the operator's certificate must chain
    to; without either, the system roots are used.

    AWS credentials come from botocore's chain (environment, ``AWS_PROFILE``, shared config and
    credentials, SSO, assume-role, container/instance roles); ``aws_profile`` overrides the
    environment's profile and ``botocore_session`` replaces the chain altogether.

    APIs whose status says ``endpoint_tls: public`` (``ssl_certificate_arn`` on AWS) are verified
    against public roots, never the pinned CA: ``public_ca_bundle`` (a PEM file), else the bundle
    requests uses (certifi's).
    """
    if endpoint is not None and env is not None:
        raise ConfigError("pass either an environment name or endpoint=..., not both")
    if ca_file is not None and ca_cert is not None:
        raise ConfigError("pass either ca_file or ca_cert, not both")
    if endpoint is not None:
        pem = ca_cert
        if ca_file is not None:
            try:
                with open(ca_file, "r", encoding="ascii") as f:
                    pem = f.read()
            except (OSError, UnicodeDecodeError) as e:
                raise ConfigError(f"cannot read CA file {ca_file}: {e}") from None
        environment = Environment(
            name="",
            operator_endpoint=endpoint,
            ca_cert=pem or "",
            auth=AUTH_LOCAL if local_token_file else "",
            local_token_file=local_token_file or "",
            aws_profile=aws_profile or "",
        )
        return Client(
            environment,
            botocore_session=botocore_session,
            timeout=timeout,
            token_cache_dir=None,
            public_ca_bundle=public_ca_bundle,
        )
    cfg = load_config(config_dir)
    environment = cfg.get(env)
    overrides: Dict[str, Any] = {}
    if aws_profile is not None:
        overrides["aws_profile"] = aws_profile
    if local_token_file is not None:
        overrides["local_token_file"] = local_token_file
    if ca_file is not None or ca_cert is not None:
        raise ConfigError("ca_file/ca_cert apply to endpoint=...; an environment's CA comes from cli.yaml")
    if overrides:
        import dataclasses

        environment = dataclasses.replace(environment, **overrides)
    return Client(
        environment,
        botocore_session=botocore_session,
        timeout=timeout,
        token_cache_dir=os.path.join(cfg.dir, "tokens") if cache_tokens else None,
        public_ca_bundle=public_ca_bundle,
    )


class Client:
    """A connection to one cortex operator. Thread-safe; use as a context manager or call close()."""

    def __init__(
        self,
        environment: Environment,
        *,
        botocore_session: Any = None,
        timeout: float = DEFAULT_TIMEOUT,
        token_cache_dir: Optional[str] = None,
        public_ca_bundle: Optional[str] = None,
    ) -> None:
        endpoint = environment.operator_endpoint.rstrip("/")
        if not endpoint.startswith("https://"):
            raise ConfigError(f"operator endpoint must be https://, got {environment.operator_endpoint!r}")
        self.environment = environment
        self.endpoint = endpoint
        self.timeout = timeout
        self._botocore_session = botocore_session
        self._token_cache_dir = token_cache_dir
        self._lock = threading.Lock()
        self._tokens: Optional[TokenSource] = None
        self._gateway_tokens: Dict[str, TokenSource] = {}  # audience -> tokens for iam APIs
        self._auth_info: Optional[Dict[str, Any]] = None

        self._http = requests.Session()
        self._http.headers["User-Agent"] = f"cortex-python/{_version}"
        self._http.trust_env = False  # no proxies or netrc credentials from the environment
        self._ca_path: Optional[str] = None
        self._verify: Union[bool, str] = True
        if environment.ca_cert.strip():
            fd, path = tempfile.mkstemp(prefix="cortex-ca-", suffix=".pem")  # 0600
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(environment.ca_cert)
            self._ca_path = path
            self._verify = path
        # API endpoints with a public certificate (endpoint_tls "public"): public roots only.
        self._public_verify: Union[bool, str] = public_ca_bundle or True
        self._finalizer = weakref.finalize(self, _cleanup, self._http, self._ca_path)

    def __repr__(self) -> str:
        name = self.environment.name or "-"
        return f"Client(env={name!r}, endpoint={self.endpoint!r}, auth={self._auth_method()!r})"

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close connections and remove the temporary CA file."""
        self._finalizer()

    # -- operator API -----------------------------------------------------------------------------

    def auth_info(self) -> Dict[str, Any]:
        """``GET /v1/auth`` (no authentication): the cluster id, STS host/region/scheme and methods."""
        if self._auth_info is None:
            self._auth_info = self._request("GET", "/v1/auth", authenticate=False)
        return self._auth_info

    def info(self) -> Dict[str, Any]:
        """``GET /v1/info``: version, cluster (id, name, provider, account, region, auth mode) and caller."""
        return self._request("GET", "/v1/info")

    def whoami(self) -> Dict[str, Any]:
        """The caller as the operator verified it: ``arn``, ``canonical_arn``, ``account``, ``role``, ..."""
        caller = self.info().get("caller")
        if not isinstance(caller, dict):
            raise CortexError("the operator's /v1/info answer has no caller")
        return caller

    def deploy(self, spec: Spec, *, project_dir: Optional[str] = None) -> List[Dict[str, Any]]:
        """Deploy APIs: a spec mapping, a list of them, or the path of a cortex.yaml (or its directory).

        Relative paths in a spec (``handler.path``) are resolved by the operator against the spec's
        ``project_dir``: for a file it is the file's directory; for mappings pass ``project_dir``
        (default: the current directory). Returns the operator's per-API results, e.g.
        ``[{"name": "iris", "action": "created"}]``.

        To a cluster whose operator is not on this machine (its provider is not ``local``), the
        project directories that ``python`` and ``command`` handlers run are sent with the deploy,
        as ``cortex deploy`` sends them (at most 1 MiB and 1,000 files each); a project that cannot
        be sent (a symbolic link out of it, too large, a file name the operator refuses) raises
        :class:`ProjectError` and nothing is sent.
        """
        if isinstance(spec, (str, os.PathLike)):
            apis = _load_spec_file(os.fspath(spec))
        else:
            base = os.path.abspath(project_dir or os.getcwd())
            apis = [_with_project_dir(a, base) for a in _load_specs(spec)]
        body: Dict[str, Any] = {"apis": apis}
        projects = self._projects_for(apis)
        if projects:
            body["projects"] = projects
        out = self._request("POST", "/v1/apis", body=body)
        return list(out.get("results", []))

    def _projects_for(self, apis: List[Dict[str, Any]]) -> Dict[str, Any]:
        """The uploads of the project directories the specs' handlers run, keyed by project_dir,
        when the operator is not on this machine; empty for a local operator, which reads them from
        disk itself (the rule of the Go CLI's projectsFor: /v1/info is asked only when a handler
        runs project code)."""
        dirs = [str(a["project_dir"]) for a in apis if _runs_project_code(a) and a.get("project_dir")]
        if not dirs:
            return {}
        cluster = self.info().get("cluster")
        provider = cluster.get("provider") if isinstance(cluster, dict) else None
        if provider == "local":
            return {}
        out: Dict[str, Any] = {}
        for a in apis:
            d = str(a.get("project_dir") or "")
            if d in out or d not in dirs:
                continue
            try:
                out[d] = read_project(d).to_json()
            except ProjectError as e:
                raise ProjectError(f"api {a.get('name')}: {e}") from None
        return out

    def list_apis(self) -> List[Dict[str, Any]]:
        """``GET /v1/apis``: the status of every deployed API."""
        return list(self._request("GET", "/v1/apis").get("apis", []))

    def get_api(self, name: str) -> Dict[str, Any]:
        """``GET /v1/apis/{name}``: one API's status (including its ``endpoint`` URL)."""
        return self._request("GET", "/v1/apis/" + _segment(name))

    def wait_for_api(self, name: str, timeout: float = 300.0, interval: float = 1.0) -> Dict[str, Any]:
        """Poll ``get_api(name)`` until its status is ``live``; return that status.

        Raises :class:`CortexError` if the API reports ``error`` or is not live within ``timeout`` s.
        """
        deadline = time.monotonic() + timeout
        while True:
            st = self.get_api(name)
            state = st.get("status")
            if state == "live":
                return st
            if state == "error":
                raise CortexError(f"API {name!r} failed: {st.get('reason') or 'error'}")
            if time.monotonic() >= deadline:
                raise CortexError(f"API {name!r} is not live after {timeout:g}s (status {state!r})")
            time.sleep(interval)

    def delete_api(self, name: str) -> Dict[str, Any]:
        """``DELETE /v1/apis/{name}``."""
        return self._request("DELETE", "/v1/apis/" + _segment(name))

    def logs(self, name: str, follow: bool = False) -> Union[str, Iterator[str]]:
        """An API's logs: the text so far, or (``follow=True``) an iterator of lines as they come."""
        path = "/v1/apis/" + _segment(name) + "/logs?follow=" + ("true" if follow else "false")
        if not follow:
            resp = self._send("GET", path, stream=False)
            return resp.text
        resp = self._send("GET", path, stream=True, read_timeout=None)
        return _iter_lines(resp)

    def get_access(self) -> Dict[str, Any]:
        """``GET /v1/access``: the authorization mode, the creator and the access rules."""
        return self._request("GET", "/v1/access")

    def grant(self, principal: str, role: str) -> Dict[str, Any]:
        """Give ``principal`` (an IAM user/role ARN or an account id) ``role`` (read, deploy or admin)."""
        if role not in _ROLES:
            raise ValueError(f"role must be one of {', '.join(_ROLES)}")
        return self._request("PUT", "/v1/access", body={"principal": principal, "role": role})

    def revoke(self, principal: str) -> Dict[str, Any]:
        """Remove ``principal``'s access rule."""
        return self._request("DELETE", "/v1/access?principal=" + quote(principal, safe=""))

    # -- API keys (role deploy) ---------------------------------------------------------------------

    def create_api_key(
        self, name: str, apis: Union[str, Sequence[str]], *, expires_in: Union[None, float, _dt.timedelta] = None
    ) -> Dict[str, Any]:
        """Create an API key for ``apis`` (APIs with ``auth: {type: api_key}``); ``expires_in`` in
        seconds or a timedelta (default: never). Returns ``{"key": "cxk_...", "api_key": {...}}``:
        the key is in this answer only (the cluster keeps its hash), so store it now."""
        api_list = [apis] if isinstance(apis, str) else list(apis)
        body: Dict[str, Any] = {"name": name, "apis": api_list}
        if expires_in is not None:
            secs = expires_in.total_seconds() if isinstance(expires_in, _dt.timedelta) else float(expires_in)
            if secs < 1:
                raise ValueError("expires_in must be at least 1 second")
            body["expires_in_seconds"] = int(secs)
        return self._request("POST", "/v1/api-keys", body=body)

    def list_api_keys(self) -> List[Dict[str, Any]]:
        """The cluster's API keys: name, id, APIs, created_by, created_at, expires_at, last_used.
        Never the keys themselves."""
        return list(self._request("GET", "/v1/api-keys").get("api_keys", []))

    def revoke_api_key(self, name_or_id: str) -> Dict[str, Any]:
        """Revoke a key by name or id; its next request is refused. Returns the revoked key's record."""
        out = self._request("DELETE", "/v1/api-keys/" + _segment(name_or_id))
        revoked = out.get("revoked")
        return revoked if isinstance(revoked, dict) else out

    # -- calling deployed APIs ----------------------------------------------------------------------

    def api_endpoint(self, name: str) -> str:
        """The URL a deployed API is served at (from its status)."""
        url = self.get_api(name).get("endpoint")
        if not isinstance(url, str) or not url:
            raise CortexError(f"API {name!r} has no endpoint yet (is it still starting?)")
        return url

    def call(
        self,
        name: str,
        payload: Any = None,
        *,
        method: str = "POST",
        headers: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
        api_key: Optional[str] = None,
    ) -> Any:
        """Call a deployed API with ``payload`` and return its answer (parsed JSON, else text/bytes).

        A mapping or list payload is sent as JSON; ``str``/``bytes`` are sent as they are. The
        gateway's certificate is verified as the API's status says (``endpoint_tls``, from the
        operator over the pinned channel): by default against the environment's CA, like the
        operator's; ``public`` (a load balancer with an ACM certificate) against public roots
        only (``public_ca_bundle``, else certifi's); any other value is refused.
        The client authenticates as the API's spec asks: ``auth: iam`` gets an identity token bound
        to the gateway's URL (never the operator's token), ``auth: api_key`` the ``api_key`` given
        (default ``$CORTEX_API_KEY``), ``auth: none`` nothing.
        """
        st = self.get_api(name)
        url = st.get("endpoint")
        if not isinstance(url, str) or not url:
            raise CortexError(f"API {name!r} has no endpoint yet (is it still starting?)")
        if not url.startswith("https://"):
            raise CortexError(f"API {name!r} endpoint is not https ({url!r}); refusing to call it")
        endpoint_tls = st.get("endpoint_tls") or ""
        if endpoint_tls == "":
            verify = self._verify
        elif endpoint_tls == "public":
            verify = self._public_verify
        else:
            raise CortexError(f"API {name!r}: the operator says its endpoint's certificate is {endpoint_tls!r}, unknown to this client: upgrade it")
        auth = st.get("auth")
        # No auth in the status: an operator from before API auth, whose gateway is open and
        # forwards headers to the replica; no credential is sent to it.
        auth_type = str((auth.get("type") if isinstance(auth, dict) else None) or "none")
        hdrs = dict(headers or {})
        secret = ""
        if auth_type == "api_key":
            secret = (api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")).strip()
            if not secret:
                raise CredentialsError(f"API {name!r} needs an API key: pass api_key=... or set {API_KEY_ENV}")
            hdrs["Authorization"] = "Bearer " + secret
        elif auth_type == "iam":
            hdrs["Authorization"], secret = self._gateway_authorization(url)
        elif auth_type != "none":
            raise CortexError(f"API {name!r} has auth type {auth_type!r}, unknown to this client: upgrade it")
        data: Optional[bytes] = None
        if isinstance(payload, (bytes, bytearray)):
            data = bytes(payload)
            hdrs.setdefault("Content-Type", "application/octet-stream")
        elif isinstance(payload, str):
            data = payload.encode("utf-8")
            hdrs.setdefault("Content-Type", "text/plain; charset=utf-8")
        elif payload is not None:
            data = json.dumps(payload).encode("utf-8")
            hdrs.setdefault("Content-Type", "application/json")
        try:
            resp = self._http.request(
                method,
                url,
                data=data,
                headers=hdrs,
                verify=verify,
                timeout=(10.0, timeout or self.timeout),
                allow_redirects=False,
            )
        except requests.RequestException as e:
            why = _describe(e)
            if endpoint_tls == "public" and isinstance(e, requests.exceptions.SSLError):
                why = "TLS verification against public roots failed (does the name point at the API load balancer, and does its certificate cover it?)"
            raise TransportError(redact(f"calling API {name!r} at {url}: {why}", secret)) from None
        # A 3xx is an error too (as in cortex call): the redirect is not followed, so the API's
        # own answer never came.
        if resp.status_code >= 300:
            body = redact(resp.text[:_MAX_ERROR_BODY], secret) if secret else resp.text[:_MAX_ERROR_BODY]
            raise APICallError(resp.status_code, f"API {name!r} answered HTTP {resp.status_code}: {body[:500]}", body)
        ctype = resp.headers.get("Content-Type", "")
        if "json" in ctype:
            try:
                return resp.json()
            except ValueError:
                return resp.text
        if ctype.startswith("text/"):
            return resp.text
        return resp.content

    # -- plumbing -----------------------------------------------------------------------------------

    def _auth_method(self) -> str:
        return self.environment.auth_method

    def _token_source(self) -> TokenSource:
        with self._lock:
            if self._tokens is not None:
                return self._tokens
            env = self.environment
            cluster_id, host, region, scheme = env.cluster_id, env.sts_host, env.sts_region, env.sts_scheme
            if not (cluster_id and host):
                # endpoint=... (or a hand-written environment without the binding): ask the operator,
                # whose identity the TLS verification has established.
                info = self.auth_info()
                cluster_id = cluster_id or str(info.get("cluster_id") or "")
                host = host or str(info.get("sts_host") or "")
                region = region or str(info.get("sts_region") or "")
                scheme = scheme or str(info.get("sts_scheme") or "")
                methods = info.get("methods")
                if isinstance(methods, list) and AUTH_AWS not in methods:
                    raise ConfigError("this operator does not accept AWS identity tokens (methods: %s)" % methods)
            if not cluster_id or not host:
                raise ConfigError("the operator did not say which cluster id and STS host to sign for")
            cache = None
            if self._token_cache_dir and env.name:
                cache = os.path.join(self._token_cache_dir, f"py-{env.name}.json")
            self._tokens = TokenSource(
                self._credentials,
                host=host,
                cluster_id=cluster_id,
                audience=self.endpoint,  # the endpoint this client dials, never one it was told
                region=region or None,
                scheme=scheme or "https",
                cache_path=cache,
            )
            return self._tokens

    def _gateway_authorization(self, url: str) -> Tuple[str, str]:
        """The Authorization header for an iam API at ``url`` and the secret it carries: the local
        admin credential on a local environment, else a token bound to the gateway's own URL."""
        if self._auth_method() == AUTH_LOCAL:
            secret = self._local_secret()
            return "Bearer " + LOCAL_TOKEN_PREFIX + secret, secret
        parts = urlsplit(url)
        audience = normalize_audience(f"{parts.scheme}://{parts.netloc}")
        op = self._token_source()  # the cluster binding (id, STS host) is the operator's
        with self._lock:
            ts = self._gateway_tokens.get(audience)
            if ts is None:
                cache = None
                if self._token_cache_dir and self.environment.name:
                    cache = os.path.join(self._token_cache_dir, f"py-{self.environment.name}.gateway.json")
                ts = TokenSource(
                    self._credentials,
                    host=op.host,
                    cluster_id=op.cluster_id,
                    audience=audience,
                    region=op.region,
                    scheme=op.scheme,
                    cache_path=cache,
                )
                self._gateway_tokens[audience] = ts
        token = ts.token()
        return "Bearer " + token, token

    def _credentials(self) -> Any:
        session = self._botocore_session
        if session is None:
            import botocore.session

            profile = self.environment.aws_profile or None
            try:
                session = botocore.session.Session(profile=profile)
            except Exception as e:
                raise CredentialsError(f"cannot load AWS profile {profile!r}: {type(e).__name__}") from None
            self._botocore_session = session
        creds = session.get_credentials()
        if creds is None:
            return None
        return creds.get_frozen_credentials()

    def _local_secret(self) -> str:
        path = self.environment.local_token_file
        if not path:
            raise CredentialsError("the environment uses local auth but has no local_token_file")
        try:
            st = os.stat(path)
        except OSError as e:
            raise CredentialsError(f"cannot read the local token file {path}: {e.strerror}") from None
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise CredentialsError(f"the local token file {path} is readable by others; chmod 600 it")
        try:
            with open(path, "r", encoding="utf-8") as f:
                secret = f.read().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise CredentialsError(f"cannot read the local token file {path}: {type(e).__name__}") from None
        if not secret:
            raise CredentialsError(f"the local token file {path} is empty")
        return secret

    def _authorization(self, force_new: bool = False) -> Tuple[str, str, bool]:
        """The Authorization header value, the secret it carries (for redaction), and whether a
        refusal could be cured by minting a new token (the token was reused from a cache)."""
        if self._auth_method() == AUTH_LOCAL:
            secret = self._local_secret()
            return "Bearer " + LOCAL_TOKEN_PREFIX + secret, secret, False
        token, fresh = self._token_source().get(force_new=force_new)
        return "Bearer " + token, token, not fresh

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        authenticate: bool = True,
        stream: bool = False,
        read_timeout: Optional[float] = -1.0,
    ) -> requests.Response:
        url = self.endpoint + path
        timeout = (10.0, self.timeout if read_timeout == -1.0 else read_timeout)
        data = None if body is None else json.dumps(body).encode("utf-8")
        force_new = False
        while True:
            headers = {"Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = "application/json"
            secret, retriable = "", False
            if authenticate:
                headers["Authorization"], secret, retriable = self._authorization(force_new=force_new)
            try:
                resp = self._http.request(
                    method,
                    url,
                    data=data,
                    headers=headers,
                    verify=self._verify,
                    timeout=timeout,
                    allow_redirects=False,
                    stream=stream,
                )
            except requests.RequestException as e:
                raise TransportError(redact(f"{method} {url}: {_describe(e)}", secret)) from None
            if resp.status_code < 300:
                return resp
            if resp.status_code < 400:
                resp.close()
                raise OperatorError(resp.status_code, "redirect", "the operator answered with a redirect (not followed)")
            err = _error_from(resp, secret)
            if isinstance(err, AuthenticationError) and retriable and not force_new and self._tokens is not None:
                # A reused token was refused (e.g. the operator restarted with a new cache, or the
                # clocks disagree): mint a fresh one and try once more.
                self._tokens.invalidate()
                force_new = True
                continue
            raise err

    def _request(self, method: str, path: str, *, body: Any = None, authenticate: bool = True) -> Dict[str, Any]:
        resp = self._send(method, path, body=body, authenticate=authenticate)
        if not resp.content:
            return {}
        try:
            out = resp.json()
        except ValueError:
            raise CortexError(f"{method} {path}: the operator answered with invalid JSON") from None
        if not isinstance(out, dict):
            raise CortexError(f"{method} {path}: the operator answered with a JSON {type(out).__name__}")
        return out


def _error_from(resp: requests.Response, secret: str) -> OperatorError:
    code, message = "", ""
    text = ""
    try:
        text = resp.content[:_MAX_ERROR_BODY].decode("utf-8", "replace")
        doc = json.loads(text)
        e = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(e, dict):
            code = str(e.get("code") or "")
            message = str(e.get("message") or "")
    except ValueError:
        pass
    if not message:
        message = text.strip()[:500] or resp.reason or ""
    retry_after: Optional[float] = None
    ra = resp.headers.get("Retry-After")
    if ra:
        try:
            retry_after = float(ra)
        except ValueError:
            retry_after = None
    resp.close()
    return operator_error(resp.status_code, redact(code, secret), redact(message, secret), retry_after)


def _describe(e: Exception) -> str:
    if isinstance(e, requests.exceptions.SSLError):
        return "TLS verification failed (is the environment's CA right?)"
    if isinstance(e, requests.exceptions.Timeout):
        return "timed out"
    if isinstance(e, requests.exceptions.ConnectionError):
        return "connection failed (is the operator running and reachable?)"
    return type(e).__name__


def _iter_lines(resp: requests.Response) -> Iterator[str]:
    try:
        for line in resp.iter_lines(decode_unicode=True):
            yield line if isinstance(line, str) else line.decode("utf-8", "replace")
    finally:
        resp.close()


def _segment(name: str) -> str:
    if not name or "/" in name:
        raise ValueError(f"invalid API name {name!r}")
    return quote(name, safe="")


def _load_specs(spec: Any) -> List[Dict[str, Any]]:
    if isinstance(spec, Mapping):
        if "apis" in spec and isinstance(spec["apis"], list):
            spec = spec["apis"]
        else:
            return [dict(spec)]
    if isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
        out = []
        for a in spec:
            if not isinstance(a, Mapping):
                raise ValueError("every API spec must be a mapping")
            out.append(dict(a))
        return out
    raise TypeError("spec must be a mapping, a list of mappings, or a path to cortex.yaml")


def _load_spec_file(path: str) -> List[Dict[str, Any]]:
    import yaml

    if os.path.isdir(path):
        path = os.path.join(path, "cortex.yaml")
    try:
        with open(path, "r", encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    if isinstance(doc, dict):
        doc = doc.get("apis", [doc]) if "apis" in doc else [doc]
    if not isinstance(doc, list) or not all(isinstance(a, dict) for a in doc):
        raise ConfigError(f"{path}: expected a list of API specs")
    return [_with_project_dir(dict(a), os.path.dirname(os.path.abspath(path))) for a in doc]


def _with_project_dir(api: Dict[str, Any], base: str) -> Dict[str, Any]:
    # The operator resolves relative handler paths against project_dir (internal/apispec); a
    # relative project_dir is the base's subdirectory, as apispec.Parse makes it for the CLI.
    pd = api.get("project_dir")
    if not pd:
        api["project_dir"] = base
    elif isinstance(pd, str) and not os.path.isabs(pd):
        api["project_dir"] = os.path.normpath(os.path.join(base, pd))
    return api


def _runs_project_code(api: Mapping[str, Any]) -> bool:
    # apispec.Spec.RunsProjectCode: python and command handlers run the project's files; a
    # container's image holds its own code.
    h = api.get("handler")
    return isinstance(h, Mapping) and h.get("type") in ("python", "command")


def _cleanup(http: requests.Session, ca_path: Optional[str]) -> None:
    try:
        http.close()
    finally:
        if ca_path:
            try:
                os.remove(ca_path)
            except OSError:
                pass
