"""Keys never leave in what synthgen stores or prints: every string of a response is checked as it is."""

import json
import os
import string
from unittest import mock

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from synthgen.secrets import SECRET_VARS, redact, redact_data


@pytest.fixture(autouse=True)
def no_secrets_set(monkeypatch):
    for name in SECRET_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "text",
    [
        "ok\nsk-abcdefghijklmnop",  # JSON spells the newline \n: no word boundary before sk- in the JSON text
        "Authorization: Bearer\nabcdef123456",  # nor whitespace after Bearer
        "Authorization: bearer\tabcdef123456",
        "see\tAIzaSyA1234567890abcdefghij",
    ],
)
def test_a_key_after_a_character_json_escapes_is_redacted(text):
    value = {"error": {"message": text}}
    redacted = redact_data(value)
    assert redacted["error"]["message"] == redact(text) != text
    assert "abcdef" not in json.dumps(redacted) and "1234567890" not in json.dumps(redacted)


@pytest.mark.parametrize("secret", ['pa"ss-word-1', "pa\\ss\\word-2", 'mixed\\"quote-3', "new\nline-4"])
def test_a_secret_value_holding_quotes_or_backslashes_is_redacted(monkeypatch, secret):
    monkeypatch.setenv("HF_TOKEN", secret)
    value = {"detail": [f"token {secret} refused"], secret: 1}
    redacted = redact_data(value)
    assert redacted == {"detail": ["token *** refused"], "***": 1}
    assert redact_data(value, ()) == redacted
    monkeypatch.delenv("HF_TOKEN")
    assert redact_data({"x": f"key {secret}"}, (secret,)) == {"x": "key ***"}  # the model's own key


def test_every_string_is_redacted_at_any_depth_and_in_keys_tuples_and_bytes():
    key = "sk-" + "x" * 20
    value = {"a": [1, 2.5, True, None, {"b": ("ok", f"x\n{key}")}], f"k\n{key}": b"Bearer\nsecret-token"}
    redacted = redact_data(value)
    assert redacted == {"a": [1, 2.5, True, None, {"b": ["ok", "x\nsk-***"]}], "k\nsk-***": "Bearer\n***"}
    assert key not in repr(redacted)


def test_every_key_pattern_is_behind_the_cheap_pre_check():
    from synthgen.secrets import _ANY_NEEDLE, _KEY_PATTERNS

    for _, needles, _ in _KEY_PATTERNS:
        assert all(any(common in needle.lower() for common in _ANY_NEEDLE) for needle in needles)


def test_a_response_with_nothing_to_redact_is_returned_as_it_is():
    value = {"choices": [{"message": {"content": "A sunny day at the lake."}}], "usage": {"tokens": 7}}
    assert redact_data(value) is value
    for scalar in (None, 3, 2.5, False, ""):
        assert redact_data(scalar) is scalar


# --- properties: whatever text a secret is embedded in, it never survives ---

NOISE = st.text(st.characters(exclude_categories=()), max_size=24)  # any code point, lone surrogates included
SEPARATORS = st.sampled_from([" ", "\n", "\t", "\r\n", '"', "'", ":", "=", ",", "(", "[", "\\n", "\\t", "\\u00a0", "/"])
SECRET_VALUE = st.text(st.sampled_from(string.ascii_letters + string.digits + '-_/+=."\\\n'), min_size=8, max_size=40)
ALNUM = string.ascii_letters + string.digits
KEY_SHAPES = st.one_of(
    st.text(st.sampled_from(ALNUM + "_-"), min_size=8, max_size=40).map("sk-".__add__),
    st.text(st.sampled_from(ALNUM + "_-"), min_size=20, max_size=40).map("AIza".__add__),
    st.tuples(
        st.sampled_from(["AKIA", "ASIA"]),
        st.text(st.sampled_from(string.ascii_uppercase + string.digits), min_size=16, max_size=16),
    ).map("".join),
)
HEX64 = st.text(st.sampled_from("0123456789abcdef"), min_size=64, max_size=64)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def embedded(before, sep, secret, sep2, after, escape):
    """`secret` inside random text, maybe the whole JSON-escaped (an answer quoting an error body)."""
    text = f"{before}{sep}{secret}{sep2}{after}"
    return json.dumps(text)[1:-1] if escape else text


def strings(value):
    """Every string of decoded JSON, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


@PROPERTY
@given(NOISE, SEPARATORS, SECRET_VALUE, SEPARATORS, NOISE, st.booleans(), st.sampled_from(["env", "extra", "named"]))
def test_a_secret_value_never_survives_redaction_wherever_it_is_embedded(before, sep, secret, sep2, after, escape, how):
    if how == "named":  # a variable named as secrets are (a table's own api_key_env) counts from 12 characters
        secret *= 2
    env = {"env": {"HF_TOKEN": secret}, "named": {"MY_PROXY_API_KEY": secret}}.get(how, {})
    extra = (secret,) if how == "extra" else ()
    text = embedded(before, sep, secret, sep2, after, escape)
    with mock.patch.dict(os.environ, env):
        outputs = [redact(text, extra), *strings(redact_data({"e": [text, (text,)], text: 1}, extra))]
    for out in outputs:
        for spelling in (secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]):
            assert spelling not in out


@PROPERTY
@given(NOISE, SEPARATORS, KEY_SHAPES, SEPARATORS, NOISE, st.booleans())
def test_a_key_shape_never_survives_redaction_wherever_it_is_embedded(before, sep, key, sep2, after, escape):
    text = embedded(before, sep, key, sep2, after, escape)
    assert key not in redact(text)
    assert key not in json.dumps(redact_data({"detail": [text]}), ensure_ascii=False)


@PROPERTY
@given(
    NOISE,
    st.sampled_from(["AKIA", "ASIA"]),
    st.text(st.sampled_from(string.ascii_uppercase + string.digits), min_size=16, max_size=16),
    HEX64,
    NOISE,
    st.booleans(),
)
def test_an_echoed_sigv4_header_keeps_neither_its_access_key_id_nor_its_signature(
    before, prefix, key_id, signature, after, escape
):
    key_id = prefix + key_id
    header = (
        f"AWS4-HMAC-SHA256 Credential={key_id}/20261203/us-east-1/bedrock/aws4_request, "
        f"SignedHeaders=host;x-amz-date;x-amz-security-token, Signature={signature}"
    )
    text = embedded(before, "Authorization: ", header, "\n", after, escape)
    for out in (redact(text), json.dumps(redact_data({"message": text}))):
        assert key_id not in out and signature not in out
        assert "Credential=***/20261203/us-east-1/bedrock/aws4_request" in out and "Signature=***" in out


FRAGMENTS = st.sampled_from(
    [
        "sk-",
        "AIza",
        "AKIA",
        "ASIA",
        "Bearer ",
        "key=",
        "Credential=",
        "Signature=",
        "X-Amz-Security-Token: ",
        '"api_key": "',
        "abcdef0123456789",
        "ABCDEFGHIJKLMNOP",
        "\n",
        "\\n",
        " ",
        '"',
        "\\",
        "*",
        "***",
        "/",
        "=",
    ]
)
TEXT = st.lists(FRAGMENTS | NOISE, max_size=12).map("".join)


@PROPERTY
@given(TEXT, st.lists(SECRET_VALUE, max_size=2))
def test_redaction_is_idempotent(text, extra):
    once = redact(text, tuple(extra))
    assert redact(once, tuple(extra)) == once
    data = {"a": [text, {text: once}]}
    assert redact_data(redact_data(data, tuple(extra)), tuple(extra)) == redact_data(data, tuple(extra))


# What a key shape needs ("token" may stay: the word alone, as in "tokens: 12", is no credential field).
NEEDLES = ("key=", "bearer", "sk-", "aiza", "akia", "asia", "credential=", "signature=", "secret", "api")


@PROPERTY
@given(
    st.lists(NOISE | st.sampled_from(["risk-assessment", "a calm day", "tokens: 12", "ok\n"]), max_size=8).map("".join)
)
def test_text_without_secrets_is_returned_unchanged(text):
    assume(not any(needle in text.lower() for needle in NEEDLES))
    assert redact(text) == text
    data = {"choices": [{"text": text}], text: [text, 1, None]}
    assert redact_data(data) is data
