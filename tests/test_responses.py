"""Redaction of the API key from server text: every spelling of it, and excerpts."""

from __future__ import annotations

import html
import json
from urllib.parse import quote, quote_plus

from hypothesis import given
from hypothesis import strategies as st

from bulksync.responses import REDACTED, Answers, redact

ENCODINGS = {
    "as sent": lambda key: key,
    "quote": lambda key: quote(key, safe=""),
    "quote, lowercase hex": lambda key: quote(key, safe="").lower(),
    "quote_plus": quote_plus,
    "html": html.escape,
    "html without quotes": lambda key: html.escape(key, quote=False),
    "html, numeric": lambda key: "".join(f"&#{ord(c)};" for c in key),
    "json": lambda key: json.dumps(key)[1:-1],
    "json, ascii escapes": lambda key: "".join(f"\\u{ord(c):04X}" for c in key),
    "json, slash escaped": lambda key: json.dumps(key)[1:-1].replace("/", "\\/"),
}

# Keys as NextStep makes them, and with every character a header can carry.
secrets = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=8)
keys = secrets.map(lambda secret: f"nxs_live_{secret}")
# Text around an echo, without the letters that could spell a key.
around = st.text(st.sampled_from(" <>=&%;:/?\"'\\[]#"), max_size=12)


@given(keys, st.sampled_from(sorted(ENCODINGS)), around, around)
def test_the_key_is_redacted_however_it_is_encoded(key, encoding, before, after):
    echoed = ENCODINGS[encoding](key)
    text = redact(f"{before}{echoed}{after}", key)
    assert REDACTED in text
    assert "nxs" not in text.lower()


@given(keys, around, st.integers(0, 60), st.integers(0, 80))
def test_an_excerpt_shows_no_part_of_the_key_wherever_it_is_cut(key, filler, at, limit):
    text = "x" * at + f"token={key}{filler}"
    shown = Answers("https://nextstep.example/api/v1", key).excerpt(text, limit)
    secret = key.removeprefix("nxs_live_")
    pieces = [secret[i : i + 5] for i in range(len(secret) - 4)]
    # (a piece the filler spells by itself says nothing about the key)
    assert not any(p in shown for p in pieces if p not in filler and p not in "token="), shown
    clean = redact(text, key)
    assert clean.startswith(shown)
    marker = clean.index(REDACTED)
    if marker < len(shown):  # a [redacted] the cut reached is shown whole
        assert shown[marker : marker + len(REDACTED)] == REDACTED


def test_an_excerpt_keeps_a_marker_the_cut_would_split():
    answers = Answers("https://nextstep.example/api/v1", "nxs_live_Q7vK2pX9mZ4tR8wLb3")
    text = "token=nxs_live_Q7vK2pX9mZ4tR8wLb3 and more"
    assert answers.excerpt(text, 9) == "token=[redacted]"
    assert answers.excerpt(text, 6) == "token="
    assert answers.excerpt(text, 18) == "token=[redacted] a"


def test_bearer_tokens_and_text_that_is_not_the_key_are_left_alone_or_redacted():
    key = "nxs_live_abc123"
    assert redact("Bearer nxs_live_0ther", key) == "Bearer [redacted]"
    assert redact("nxs_live_abc12 is not it", key) == "nxs_live_abc12 is not it"
    assert redact("NXS_LIVE_ABC123", key) == REDACTED
