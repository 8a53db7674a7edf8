"""Keep API keys out of everything synthgen prints or stores."""

from __future__ import annotations

import functools
import json
import os
import re
from typing import Any

# Variables whose values are secrets wherever they turn up.
SECRET_VARS = (
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "HF_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",  # the older name of the session token, still read by botocore
    "SYNTHGEN_LOCAL_API_KEY",
    "SYNTHGEN_EMBED_API_KEY",
)

# Any other variable named as secrets are (a table's own `api_key_env` such as MY_PROXY_API_KEY, or another
# model's) counts too, when its value is long enough to be a key rather than a flag.
_SECRET_NAME = re.compile(r"(?:^|_)(?:API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)(?:_|$)")
_NAMED_MIN = 12

# Where a key shape may start: after a character that is not part of a word, or after an escape written out as
# text (`\n`, `\u00a0`: an answer quoting JSON), which leaves a letter right before the key.
_START = r"(?:(?<![A-Za-z0-9_])|(?<=\\[nrtbf])|(?<=\\u[0-9a-fA-F]{4}))"
# A field that names a credential, then its separator and any quoting: `X-Amz-Security-Token=`, `"api_key": "`.
_FIELD = (
    r"(?i)((?:x-amz-security-token|security[-_]?token|session[-_]?token|secret[-_]?access[-_]?key"
    r"|x-goog-api-key|api[-_]?key)[\\\"']*\s*[=:]\s*[\\\"']*)[^&\s\"'\\,;]+"
)

# Shapes of keys, each with literals it cannot match without (a cheap test first: redaction runs on every
# stored response, and a regex with a look-behind is tried at every position of the text). Each replaces what
# follows its first group with `***`. Order matters: `Bearer` before the fields, the SigV4 parts before the ids.
_KEY_PATTERNS: list[tuple[re.Pattern[str], tuple[str, ...], bool]] = [
    (re.compile(r"(?i)(key=)[^&\s\"']+"), ("key=",), True),
    (re.compile(r"(?i)(bearer(?:\s|\\[nrt])+)[A-Za-z0-9._~+/\-]+=*"), ("bearer",), True),
    (re.compile(_START + r"(sk-)[A-Za-z0-9_\-]{8,}"), ("sk-",), False),
    # a Google key anywhere: `AIza` is rare enough in any text to need no boundary (`sk-` does: `risk-averse`)
    (re.compile(r"(AIza)[A-Za-z0-9_\-]{20,}"), ("AIza",), False),
    # SigV4: `Credential=AKID/20261203/us-east-1/bedrock/aws4_request` (the scope stays: it is no secret) and
    # `Signature=<64 hex>`, as an `Authorization` header or a presigned URL's `X-Amz-Credential=`/`X-Amz-Signature=`
    (re.compile(r"(?i)(credential=)[^/,\s\"'&\\]+"), ("credential=",), True),
    (re.compile(r"(?i)(signature=)[0-9a-f]{16,}"), ("signature=",), True),
    # AWS access key ids (long-term AKIA, temporary ASIA), anywhere: no word boundary is needed to spot one
    (re.compile(r"(AKIA|ASIA)[A-Z0-9]{16,}"), ("AKIA", "ASIA"), False),
    (
        re.compile(_FIELD),
        # (not "token" alone: every response's usage has `prompt_tokens`)
        ("security-token", "security_token", "securitytoken", "session-token", "session_token", "sessiontoken")
        + ("secret", "api-key", "api_key", "apikey"),
        True,
    ),
]
# What every needle above holds, lower-cased: most strings (an answer, a response's field) hold none of these,
# and then a few substring tests are all their redaction costs.
_ANY_NEEDLE = ("key", "bearer", "sk-", "aiza", "akia", "asia", "credential=", "signature=", "token", "secret")


def _secret_values(extra: tuple[str, ...]) -> tuple[str, ...]:
    """The values to replace: every set secret variable's (SECRET_VARS, and those named like one) and `extra`'s,
    each at least 4 characters long, with their JSON-escaped spellings, longest first."""
    return _spellings(tuple(v for v in (*_environment_secrets(), *extra) if v and len(v) >= 4))


# The environment's secret values, and the environment they were read from. Reading them decodes and matches
# every variable (30-50 us, more than redacting a short answer, on every call); the environment as the process
# holds it (bytes, not decoded) is compared instead, a few us, so a variable set or changed since is read at once.
_environment_read: tuple[Any, tuple[str, ...]] | None = None


def _environment_secrets() -> tuple[str, ...]:
    global _environment_read
    raw = getattr(os.environ, "_data", None)  # CPython's os.environ keeps the encoded variables here
    # names and values, each the process's own objects: unchanged, they compare by identity
    fingerprint = (tuple(raw), tuple(raw.values())) if isinstance(raw, dict) else tuple(os.environ.items())
    read = _environment_read
    if read is not None and read[0] == fingerprint:
        return read[1]
    values = [os.environ.get(name) or "" for name in SECRET_VARS]
    named = [v for k, v in os.environ.items() if len(v) >= _NAMED_MIN and _SECRET_NAME.search(k.upper())]
    found = tuple(v for v in (*values, *named) if v)
    _environment_read = (fingerprint, found)  # one assignment: a thread racing this reads the one or the other
    return found


@functools.lru_cache(maxsize=64)
def _spellings(values: tuple[str, ...]) -> tuple[str, ...]:
    # A value holding `"`, `\` or a control character is spelt otherwise inside JSON text (an answer quoting a
    # config file, an error body quoted as text); longest first, so a secret holding another is replaced whole.
    found = set(values)
    for value in values:
        found.add(json.dumps(value)[1:-1])
        found.add(json.dumps(value, ensure_ascii=False)[1:-1])
    return tuple(sorted(found, key=len, reverse=True))


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    # Until none is left: each replacement makes the text shorter (a value has 4+ characters, `***` 3), so this
    # ends, and one replacement cannot leave a value formed around it (`ab` + `abcd` + `cd` with `abcd` secret).
    changed = True
    while changed:
        changed = False
        for value in secrets:
            if value in text:
                text = text.replace(value, "***")
                changed = True
    lowered = text.lower()
    for needle in _ANY_NEEDLE:
        if needle in lowered:
            break
    else:
        return text
    for pattern, needles, any_case in _KEY_PATTERNS:
        haystack = lowered if any_case else text
        if any(needle in haystack for needle in needles):
            text = pattern.sub(lambda m: m.group(1) + "***", text)
            lowered = text.lower() if any_case else lowered
    return text


class Redactor:
    """`redact` and `redact_data` with the secret values read once: for several texts of one call (reading the
    environment costs more than redacting a short text)."""

    def __init__(self, extra: tuple[str, ...] = ()):
        self.values = _secret_values(extra)

    def text(self, text: str) -> str:
        """`text` redacted; `text` itself when nothing in it was (callers may test identity)."""
        if not text:
            return text
        return _redact_short(text, self.values) if len(text) <= _SHORT else _redact(text, self.values)

    def data(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value
        return _redact_tree(value, self.values)


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    """Replace every known secret value, and anything shaped like a key, with `***`."""
    if not text:
        return text
    return _redact(text, _secret_values(extra))


def redact_data(value: Any, extra: tuple[str, ...] = ()) -> Any:
    """`value` (decoded JSON: dicts, lists, strings) with `redact` applied to every string, keys included.

    Every string is checked as it is, never through a serialisation of the whole: JSON escaping would hide a
    match (`"ok\\nsk-..."` has no word boundary before `sk-`, `Bearer\\n` no whitespace, and a secret holding `"`
    or `\\` is spelt differently). Containers in which nothing changed are returned as they are (the common case
    costs a few substring tests per string and no copy)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return _redact_tree(value, _secret_values(extra))


# Short strings of a response come back in every response (its keys, "assistant", "stop", the model's id): each
# is redacted once per set of secret values, then looked up. Bounded: emptied when full.
_SHORT = 64
_short_redacted: dict[tuple[str, ...], dict[str, str | None]] = {}
_NOT_SEEN = ""  # never a key's value: the empty text is never looked up


def _redact_short(text: str, secrets: tuple[str, ...]) -> str:
    """`_redact`, remembered; `text` itself when nothing in it was redacted (callers test identity)."""
    seen = _short_redacted.get(secrets)
    if seen is None:
        if len(_short_redacted) >= 8:
            _short_redacted.clear()
        seen = _short_redacted[secrets] = {}
    found = seen.get(text, _NOT_SEEN)
    if found is not _NOT_SEEN:
        return text if found is None else found
    if len(seen) >= 4096:
        seen.clear()
    redacted = _redact(text, secrets)
    if redacted == text:
        seen[text] = None
        return text
    seen[text] = redacted
    return redacted


def _redact_tree(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        if len(value) <= _SHORT:
            return _redact_short(value, secrets) if value else value
        return _redact(value, secrets)
    if isinstance(value, dict):
        out = {}
        changed = False
        for key, item in value.items():
            if isinstance(key, str) and key:
                new_key = _redact_short(key, secrets) if len(key) <= _SHORT else _redact(key, secrets)
            else:
                new_key = key
            new_item = _redact_tree(item, secrets)
            changed = changed or new_key is not key or new_item is not item
            out[new_key] = new_item
        return out if changed else value
    if isinstance(value, list | tuple):
        items = [_redact_tree(item, secrets) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return items
    if isinstance(value, bytes):
        return _redact(value.decode("utf-8", "replace"), secrets)
    return value
