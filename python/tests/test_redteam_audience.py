"""Red-team reproduction: the Python audience normalizer accepts what Go's refuses.

``normalize_audience`` matches its URL with ``re.match(r"^...$")``, and the host with
``_DNS_NAME.match(r"^[a-z0-9.-]+$")``; in Python ``$`` also matches before a trailing newline, so
an endpoint ending in ``\\n`` passes and yields an audience with a newline inside
("https://op.example.com\\n:443"), which Go's NormalizeAudience refuses. Both clients must bind to
the same string for the same endpoint (and refuse the same endpoints); today the difference fails
closed (the operator answers wrong_audience), but a normalizer that accepts a control character in
a value it signs is one step from a header-injection or a relay. Fix: ``re.fullmatch`` (or ``\\Z``)
everywhere a whole string is validated.
"""

import pytest

from cortex.errors import ConfigError
from cortex.token import normalize_audience


@pytest.mark.skip(reason="redteam: reproduces 'normalize_audience accepts a trailing newline (Python $), Go refuses'; unskip when fixed")
@pytest.mark.parametrize("bad", ["https://operator.example.com\n", "https://operator.example.com\n/"])
def test_redteam_normalize_audience_refuses_trailing_newline(bad: str) -> None:
    with pytest.raises(ConfigError):
        normalize_audience(bad)
