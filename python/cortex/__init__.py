"""cortex: Python client for the cortex operator.

    import cortex
    c = cortex.client("local")          # an environment of ~/.cortex/cli.yaml
    print(c.whoami()["arn"])
    c.deploy("examples/echo/cortex.yaml")
    print(c.call("echo", {"hello": "world"}))

See docs/python.md.
"""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    APICallError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConflictError,
    CortexError,
    CredentialsError,
    NotFoundError,
    OperatorError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ProjectError,
    RateLimitedError,
    ServiceUnavailableError,
    TransportError,
)
from .config import CLIConfig, Environment, config_dir, load_config  # noqa: E402
from .token import TokenSource, mint_token  # noqa: E402
from .client import Client, client  # noqa: E402

__all__ = [
    "__version__",
    "client",
    "Client",
    "Environment",
    "CLIConfig",
    "config_dir",
    "load_config",
    "mint_token",
    "TokenSource",
    "CortexError",
    "ConfigError",
    "CredentialsError",
    "TransportError",
    "ProjectError",
    "OperatorError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "ServiceUnavailableError",
    "APICallError",
]
