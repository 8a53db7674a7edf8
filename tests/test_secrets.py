"""Keys never leave in what synthgen stores or prints: every string of a response is checked as it is."""

import json

import pytest

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


def test_a_response_with_nothing_to_redact_is_returned_as_it_is():
    value = {"choices": [{"message": {"content": "A sunny day at the lake."}}], "usage": {"tokens": 7}}
    assert redact_data(value) is value
    for scalar in (None, 3, 2.5, False, ""):
        assert redact_data(scalar) is scalar
