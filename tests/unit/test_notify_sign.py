"""Standard Webhooks signatures, checked against the scheme's published test vector."""

from __future__ import annotations

import pytest

from jobs.errors import ConfigError
from jobs.service.notify import sign


def test_signature_matches_the_standard_webhooks_reference_vector():
    # From the standard-webhooks reference libraries' tests.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert (
        sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_a_missing_or_malformed_secret_is_a_config_error():
    with pytest.raises(ConfigError, match="notify.secret"):
        sign("", "msg", 1, b"{}")
    with pytest.raises(ConfigError, match="base64"):
        sign("whsec_not*base64", "msg", 1, b"{}")
