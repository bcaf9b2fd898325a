"""Secrets never reach a message, in whatever form a server echoes them."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alttext.errors import redact

KEY = "sk-SECRET-XYZ/987+abc"


@pytest.mark.parametrize(
    "echo",
    [
        KEY,
        KEY.upper(),
        KEY.lower(),
        quote(KEY, safe=""),
        "".join(c if c.isalnum() else f"%{ord(c):02X}" for c in KEY),  # every byte encoded
        base64.b64encode(KEY.encode()).decode(),
        base64.urlsafe_b64encode(KEY.encode()).decode().rstrip("="),
        json.dumps(KEY)[1:-1],
    ],
)
def test_every_echoed_form_of_the_key_is_redacted(echo: str) -> None:
    message = f"401: the key {echo} is not valid"
    assert redact(message, KEY) == "401: the key *** is not valid"


def test_a_short_secret_is_redacted_only_as_a_whole_word() -> None:
    assert redact("Max retries exceeded with key x", "x") == "Max retries exceeded with key ***"


_KEYS = st.text(st.sampled_from("abcXYZ0123456789-_"), min_size=8, max_size=40)
_AROUND = st.text(st.sampled_from(" :;,.'\"()[]{}\n\t=&?!@#$^"), max_size=20)


@given(_AROUND, _KEYS, _AROUND)
def test_the_secret_never_survives(before: str, secret: str, after: str) -> None:
    assert secret.lower() not in redact(before + secret + after, secret).lower()
