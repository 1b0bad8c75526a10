"""The CLI's configuration, ``$CORTEX_CLI_CONFIG_DIR/cli.yaml`` (default ``~/.cortex/cli.yaml``).

The Python client reads the same file the Go CLI writes (``internal/cliconfig``); it never writes it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional

import yaml

from .errors import ConfigError

__all__ = ["DIR_ENV", "Environment", "CLIConfig", "config_dir", "load_config"]

DIR_ENV = "CORTEX_CLI_CONFIG_DIR"
AUTH_AWS = "aws"
AUTH_LOCAL = "local"

_ENV_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class Environment:
    """One operator the CLI (and this client) can talk to. Field names are cli.yaml's keys."""

    name: str
    operator_endpoint: str
    provider: str = ""
    ca_cert: str = ""  # PEM; empty means the system roots
    cluster_id: str = ""
    sts_host: str = ""
    sts_region: str = ""
    sts_scheme: str = ""
    auth: str = ""  # "aws" | "local"; empty means "aws"
    local_token_file: str = ""
    aws_profile: str = ""
    aws_credentials_for_apis: bool = False
    cluster_name: str = ""
    region: str = ""
    extra: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def auth_method(self) -> str:
        return self.auth or AUTH_AWS

    def __repr__(self) -> str:
        return (
            f"Environment(name={self.name!r}, provider={self.provider!r}, "
            f"operator_endpoint={self.operator_endpoint!r}, auth={self.auth_method!r}, "
            f"cluster_id={self.cluster_id!r})"
        )


@dataclass
class CLIConfig:
    """The whole cli.yaml."""

    dir: str
    default_environment: str = ""
    environments: List[Environment] = field(default_factory=list)

    def get(self, name: Optional[str] = None) -> Environment:
        """The named environment, or the default one when ``name`` is empty.

        Without a default it never guesses, not even when one environment is left (``cortex cluster
        down`` removes the default): talking to a cluster the caller did not choose is worse than
        an error.
        """
        if not name:
            name = self.default_environment
        if not name:
            known = ", ".join(sorted(e.name for e in self.environments))
            if not known:
                raise ConfigError(
                    f"no environment given and none is configured in {os.path.join(self.dir, 'cli.yaml')}: "
                    "run `cortex cluster up` for a local cluster, or `cortex env configure NAME --operator-endpoint URL`"
                )
            raise ConfigError(
                f"no environment given and no default set in {os.path.join(self.dir, 'cli.yaml')} "
                f"(environments: {known}): pass a name, e.g. cortex.client('{known.split(', ')[0]}'), "
                "or run `cortex env default NAME`"
            )
        for e in self.environments:
            if e.name == name:
                return e
        known = ", ".join(e.name for e in self.environments) or "none"
        raise ConfigError(f"environment {name!r} is not configured (configured: {known}; see `cortex env list`)")


def config_dir() -> str:
    """``$CORTEX_CLI_CONFIG_DIR`` (made absolute), else ``~/.cortex``."""
    d = os.environ.get(DIR_ENV)
    if d:
        return os.path.abspath(d)
    return os.path.join(os.path.expanduser("~"), ".cortex")


_FIELDS = {f.name for f in fields(Environment)} - {"extra"}


def _environment(raw: Any, path: str) -> Environment:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: every entry of environments must be a mapping")
    known: Dict[str, Any] = {}
    extra: Dict[str, Any] = {}
    for k, v in raw.items():
        if k in _FIELDS:
            known[k] = v
        else:
            extra[str(k)] = v  # a newer CLI's field; kept, not interpreted
    name = known.get("name")
    if not isinstance(name, str) or not _ENV_NAME.match(name):
        raise ConfigError(f"{path}: invalid environment name {name!r}")
    for k, v in known.items():
        if k == "aws_credentials_for_apis":
            if not isinstance(v, bool):
                raise ConfigError(f"{path}: environment {name!r}: {k} must be true or false")
        elif v is None:
            known[k] = ""
        elif not isinstance(v, str):
            raise ConfigError(f"{path}: environment {name!r}: {k} must be a string")
    if not known.get("operator_endpoint"):
        raise ConfigError(f"{path}: environment {name!r} has no operator_endpoint")
    auth = known.get("auth", "")
    if auth not in ("", AUTH_AWS, AUTH_LOCAL):
        raise ConfigError(f"{path}: environment {name!r}: unknown auth {auth!r} (want aws or local)")
    return Environment(extra=extra, **known)


def load_config(directory: Optional[str] = None) -> CLIConfig:
    """Read cli.yaml from ``directory`` (default :func:`config_dir`). A missing file is empty."""
    d = os.path.abspath(directory) if directory else config_dir()
    path = os.path.join(d, "cli.yaml")
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        return CLIConfig(dir=d)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    if data is None:
        return CLIConfig(dir=d)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    default = data.get("default_environment") or ""
    if not isinstance(default, str):
        raise ConfigError(f"{path}: default_environment must be a string")
    raw_envs = data.get("environments") or []
    if not isinstance(raw_envs, list):
        raise ConfigError(f"{path}: environments must be a list")
    envs = [_environment(r, path) for r in raw_envs]
    seen = set()
    for env in envs:
        if env.name in seen:
            raise ConfigError(f"{path}: environment {env.name!r} appears twice")
        seen.add(env.name)
    return CLIConfig(dir=d, default_environment=default, environments=envs)
