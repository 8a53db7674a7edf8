"""A local HTTP server that speaks the LLM providers' wire formats, for tests and benchmarks.

One port serves, over HTTP/1.1 keep-alive:

- AWS Bedrock InvokeModel ``POST /model/{modelId}/invoke`` (AI21 Jurassic-2, Amazon Titan Text, Anthropic
  Claude v2 text completions, Meta Llama 2/3, plus Anthropic messages and Mistral shapes) and Converse
  ``POST /model/{modelId}/converse``, with errors in the restJson form botocore parses (``x-amzn-ErrorType``);
- Gemini ``POST /v1beta/models/{model}:generateContent`` (key in the ``x-goog-api-key`` header);
- OpenAI ``POST /v1/chat/completions``, ``POST /v1/completions``, ``POST /v1/embeddings``, ``GET /v1/models``;
- control endpoints ``POST /_control/configure``, ``POST /_control/script``, ``POST /_control/reset``,
  ``GET /_control/requests[?since=N]``, ``GET /_control/stats``, ``GET /_control/health``.

Answers are deterministic functions of (model id, prompt): a single sentence carrying the prompt's sentiment
and topics, wrapped in Llama-2 style chatter for ``meta.llama2*`` models unless ``chatter=False``. Faults
(throttling, server errors, timeouts, malformed bodies, access denied, a valid answer trickled one byte at a time)
and latency are configured per model or for all models.

In-process::

    with ProviderServer(latency=0.0, jitter=0.0, seed=0) as srv:
        srv.configure(model="ai21.j2-ultra-v1", p429=0.1)
        srv.script(model="gpt-4", statuses=[429, 500, 200])
        ... srv.url, srv.requests ...

As a process: ``python tests/provider_server.py --port 0 --latency 0.3 --jitter 0.2`` prints
``LISTENING <port>``; ``start_subprocess_server(**opts)`` does that from Python. Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import json
import math
import queue
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = [
    "BEHAVIOUR_DEFAULTS",
    "ProviderServer",
    "embed_text",
    "make_answer",
    "main",
    "start_subprocess_server",
    "stop_subprocess_server",
]

# Every knob a model's behaviour has, with its default. `None` means "not set" for always_status/retry_after/
# chatter/answer; chatter None = on for meta.llama2* only.
BEHAVIOUR_DEFAULTS: dict[str, Any] = {
    "p429": 0.0,  # probability of a throttling error
    "p500": 0.0,  # probability of an internal server error
    "p503": 0.0,  # probability of service unavailable
    "p_timeout": 0.0,  # probability of hanging `timeout_sleep` seconds before answering
    "p_malformed": 0.0,  # probability of a 200 whose body lacks the answer (sometimes not JSON at all)
    "always_status": None,  # e.g. 403: every request fails with that status in the protocol's error shape
    "latency": 0.0,  # seconds each response waits ...
    "jitter": 0.0,  # ... drawn uniformly from [latency - jitter, latency + jitter], floored at 0
    "timeout_sleep": 30.0,  # how long a "timeout" hangs (cut short by stop())
    "trickle": 0.0,  # seconds between the bytes of a 200 answer, sent one at a time (0: at once; see `_trickled`)
    "retry_after": None,  # seconds sent as `retry-after` on 429 responses
    "chatter": None,  # Llama-2 style wrapping: None = meta.llama2* only, True = always, False = never
    "answer": None,  # a fixed answer text instead of the generated sentence
    "echo_key": False,  # error bodies quote the credential the request carried (as careless proxies do)
    # Hostile answers: what a provider may send that a client must store as data, never crash on, never leak
    # (see `_hostile_answer` and `_hostile_error`). None / False: not set.
    "lone_surrogates": False,  # the answer text holds a lone high and a lone low surrogate (JSON `\\ud800` escapes)
    "leak_key": False,  # the answer text ends with the credential headers the request carried (Authorization, ...)
    "usage_value": None,  # every token count of an answer is this value (1e308, -5, NaN, "12", True, 2**70, ...)
    "finish_reason": None,  # every finish reason of an answer is this value (a text, a number, an object)
    "extra": None,  # a JSON object merged into every answer's top level (odd keys, NaN, surrogates, nesting)
    "echo_auth": False,  # error bodies quote the request's credential headers whole (SigV4 Authorization ...)
    "error_message": None,  # error bodies carry this message instead of the protocol's own
    "judge_label": None,  # judge requests (synthgen verify) get this label instead of the lexicon's
}

PROTOCOLS = ("bedrock-invoke", "bedrock-converse", "gemini", "openai-chat", "openai-completions", "openai-embeddings")

_SCRIPT_WORDS = {"ok": "ok", "timeout": "timeout", "malformed": "malformed", "garbage": "garbage", "trickle": "trickle"}

# ------------------------------------------------------------------------------------------------------------
# Answers
# ------------------------------------------------------------------------------------------------------------

_SENTIMENT_RE = re.compile(r"sentiment\s+is\s+\**\s*([A-Za-z-]+)", re.IGNORECASE)
_TOPIC_RE = re.compile(r"^[ \t]*[-*\u2022][ \t]*([^:\n]{1,80}):[ \t]*(\S[^\n]*?)[ \t]*$", re.MULTILINE)
_WORD_RE = re.compile(r"[a-z0-9]+")

_ADJECTIVES = {
    "positive": [
        "grateful",
        "hopeful",
        "delighted",
        "proud",
        "energised",
        "content",
        "uplifted",
        "relieved",
        "joyful",
        "inspired",
    ],
    "negative": [
        "frustrated",
        "drained",
        "disappointed",
        "anxious",
        "let down",
        "exhausted",
        "uneasy",
        "discouraged",
        "bitter",
        "defeated",
    ],
    "neutral": ["calm", "steady", "indifferent", "reflective", "composed"],
}

_TEMPLATES = {
    "positive": [
        "{Sent}: after {a} and {b}, I felt {adj} about {c}.",
        "Thanks to {a}, {b} left me {adj}, and {c} only made it better.",
        "Even with {a} on my mind, {b} left me feeling {adj}, and {c} felt full of promise.",
        "I am so {adj} that {a} and {b} came together with {c} today.",
        "Looking back on {a}, {b} and {c}, I feel genuinely {adj} and ready for what comes next.",
    ],
    "negative": [
        "{Sent}: after {a} and {b}, I felt {adj} about {c}.",
        "Between {a} and {b}, the day left me {adj}, and {c} only made it worse.",
        "I am {adj} that {a} and {b} keep colliding with {c}.",
        "Despite hoping for the best, {a} and {b} left me {adj}, with {c} still hanging over me.",
        "Nothing about {a}, {b} or {c} went right, and I ended the day {adj}.",
    ],
    "neutral": [
        "{Sent}: {a}, {b} and {c} shaped the day, and I stayed {adj} throughout.",
        "With {a} and {b} in the background, {c} left me feeling {adj}.",
    ],
}

_FILLER_TOPICS = ["the day", "everything around it", "what came after"]


def _seed_of(*parts: str) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).digest()
    return int.from_bytes(digest[:8], "big")


def parse_prompt(prompt: str) -> tuple[str | None, list[str]]:
    """The sentiment word and the topics ("- Category: topic" lines) of a synthgen prompt, when present."""
    m = _SENTIMENT_RE.search(prompt)
    sentiment = m.group(1).lower() if m else None
    topics = [t.group(2).strip().rstrip(".") for t in _TOPIC_RE.finditer(prompt)]
    return sentiment, [t for t in topics if t][:6]


def _sentence(prompt: str, rng: random.Random) -> tuple[str, str | None, list[str]]:
    sentiment, topics = parse_prompt(prompt)
    if sentiment is None and not topics:
        words = [w for w in _WORD_RE.findall(prompt.lower()) if len(w) > 3][:6]
        subject = " ".join(words) if words else "your request"
        return f"Here is a short thought about {subject}: it all comes down to the details.", None, []
    flavour = sentiment if sentiment in ("positive", "negative") else "neutral"
    if len(topics) < 3:
        slots = list(topics) + _FILLER_TOPICS[len(topics) :]
    else:
        slots = topics[:2] + [" and ".join(topics[2:])]
    template = rng.choice(_TEMPLATES[flavour])
    adjective = rng.choice(_ADJECTIVES[flavour])
    sent_word = (sentiment or flavour).capitalize()
    text = template.format(Sent=sent_word, a=slots[0], b=slots[1], c=slots[2], adj=adjective)
    return text[0].upper() + text[1:], sentiment, topics


def _chatter(sentence: str, sentiment: str | None, topics: list[str], rng: random.Random) -> str:
    about = ", ".join(topics[:3]) if topics else "the topics you gave"
    mood = sentiment or "intended"
    kind = rng.randrange(4)
    if kind == 0:
        return (
            f'Sure! Here\'s a sentence that fits the criteria:\n\n"{sentence}"\n\n'
            f"This sentence captures the {mood} sentiment while touching on {about}."
        )
    if kind == 1:
        return f'"{sentence}"\n\nCan I help you with anything else?'
    if kind == 2:
        return (
            f"{sentence}\n\nThis response acknowledges {about} while keeping a {mood} tone. "
            "Please let me know if this meets your requirements."
        )
    return sentence


def make_answer(prompt: str, model: str, *, chatter: bool | None = None, variant: int = 0) -> str:
    """The deterministic answer for (model, prompt). chatter None: Llama-2 chatter for meta.llama2* only."""
    rng = random.Random(_seed_of(model, prompt, str(variant)))
    sentence, sentiment, topics = _sentence(prompt, rng)
    if chatter is None:
        chatter = _bedrock_family(model) == "llama2"
    if chatter:
        return _chatter(sentence, sentiment, topics, rng)
    return sentence


def count_tokens(text: str) -> int:
    """A rough token count: words. Good enough for usage numbers that must be consistent, not exact."""
    return len(text.split())


def _truncate(answer: str, limit: Any) -> tuple[str, bool]:
    """(answer cut to `limit` words, whether it was cut)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        return answer, False
    words = answer.split()
    if len(words) <= limit:
        return answer, False
    return " ".join(words[:limit]), True


def embed_text(text: str, dims: int = 64) -> list[float]:
    """A deterministic hashed bag-of-words embedding, L2-normalised: texts sharing words are close."""
    dims = max(1, int(dims))
    vec = [0.0] * dims
    for word in _WORD_RE.findall(text.lower()):
        h = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vec[int.from_bytes(h[:4], "little") % dims] += 1.0 if h[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vec))
    if norm == 0.0:
        vec[0] = 1.0
        return vec
    return [v / norm for v in vec]


# ------------------------------------------------------------------------------------------------------------
# Protocol shapes
# ------------------------------------------------------------------------------------------------------------

_REGION_PREFIXES = ("us.", "eu.", "apac.", "us-gov.", "global.", "jp.", "au.", "ca.")


def _bedrock_family(model_id: str) -> str | None:
    mid = model_id.split("/")[-1]  # ARNs end with the model id
    for prefix in _REGION_PREFIXES:
        if mid.startswith(prefix):
            mid = mid[len(prefix) :]
            break
    if mid.startswith("ai21.j2") or mid.startswith("ai21.jurassic"):
        return "ai21"
    if mid.startswith("amazon.titan-text"):
        return "titan"
    if mid.startswith("anthropic.claude-v2") or mid.startswith("anthropic.claude-instant"):
        return "claude-text"
    if mid.startswith("anthropic.claude"):
        return "claude-messages"
    if mid.startswith("meta.llama2"):
        return "llama2"
    if mid.startswith("meta.llama"):
        return "llama"
    if mid.startswith("mistral."):
        return "mistral"
    return None


_BEDROCK_CODES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_BEDROCK_MESSAGES = {
    "ValidationException": "The provided request is not valid.",
    "AccessDeniedException": "You don't have access to the model with the specified model ID.",
    "ResourceNotFoundException": "The requested resource could not be found.",
    "ModelTimeoutException": "The model took too long to respond.",
    "ModelErrorException": "The model returned an error.",
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "InternalServerException": "The server encountered an internal error.",
    "ServiceUnavailableException": "The service is temporarily unavailable. Please try again later.",
}
_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_GEMINI_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}
_OPENAI_ERRORS = {  # status: (type, code, message)
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "model_not_allowed", "You are not allowed to sample from this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    408: ("server_error", None, "Request timed out."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}

_SAFETY_RATINGS = [
    {"category": c, "probability": "NEGLIGIBLE"}
    for c in (
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
    )
]

Response = tuple[int, list[tuple[str, str]], bytes]


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def error_response(
    protocol: str | None,
    status: int,
    message: str | None = None,
    *,
    code: str | None = None,
    retry_after: float | None = None,
) -> Response:
    """An error in the protocol's own shape; `code` overrides the Bedrock/OpenAI code or Gemini reason."""
    headers: list[tuple[str, str]] = []
    if retry_after is not None and status == 429:
        headers.append(("retry-after", f"{retry_after:g}"))
    if protocol in ("bedrock-invoke", "bedrock-converse"):
        err_code = (
            code
            or _BEDROCK_CODES.get(status)
            or ("InternalServerException" if status >= 500 else "ValidationException")
        )
        headers += [
            ("content-type", "application/json"),
            ("x-amzn-requestid", str(uuid.uuid4())),
            ("x-amzn-ErrorType", f"{err_code}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        ]
        return status, headers, _json_bytes({"message": message or _BEDROCK_MESSAGES.get(err_code, err_code)})
    if protocol == "gemini":
        err: dict[str, Any] = {
            "code": status,
            "message": message or _GEMINI_MESSAGES.get(status, "Error"),
            "status": _GEMINI_STATUS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION"),
        }
        if code:
            err["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": code,
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ]
        headers.append(("content-type", "application/json; charset=UTF-8"))
        return status, headers, _json_bytes({"error": err})
    fallback = ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}")
    etype, ecode, emsg = _OPENAI_ERRORS.get(status, fallback)
    headers += [("content-type", "application/json"), ("x-request-id", f"req_{uuid.uuid4().hex}")]
    return (
        status,
        headers,
        _json_bytes({"error": {"message": message or emsg, "type": etype, "param": None, "code": code or ecode}}),
    )


def _text_of_content(content: Any) -> str:
    """Text inside an OpenAI/Converse/Gemini content value: a string, or a list of parts with "text"."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text_of_content(p) for p in content)
    if isinstance(content, dict):
        if isinstance(content.get("text"), str):
            return content["text"]
        if "content" in content:
            return _text_of_content(content["content"])
        if "parts" in content:
            return _text_of_content(content["parts"])
    return ""


def _credential(headers: dict[str, str]) -> str:
    """The secret a request carried: a Gemini key, a bearer token, or an AWS signature's access key id."""
    if headers.get("x-goog-api-key"):
        return headers["x-goog-api-key"]
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    match = re.search(r"Credential=([^/,\s]+)", auth)
    return match.group(1) if match else ""


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


# ------------------------------------------------------------------------------------------------------------
# Hostile answers
# ------------------------------------------------------------------------------------------------------------

_HOSTILE_KEYS = ("lone_surrogates", "leak_key", "usage_value", "finish_reason", "extra")
_CREDENTIAL_HEADERS = ("authorization", "x-goog-api-key", "x-amz-security-token", "x-api-key")
# Where each protocol's answer text, token counts and finish reasons sit (every family's key names).
_TEXT_KEYS = {"content", "text", "outputText", "completion", "generation"}
_USAGE_KEYS = {
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "promptTokenCount",
    "candidatesTokenCount",
    "totalTokenCount",
    "inputTokens",
    "outputTokens",
    "totalTokens",
    "input_tokens",
    "output_tokens",
    "prompt_token_count",
    "generation_token_count",
    "inputTextTokenCount",
    "tokenCount",
}
_USAGE_HEADERS = ("x-amzn-bedrock-input-token-count", "x-amzn-bedrock-output-token-count")
_FINISH_KEYS = {"finish_reason", "finishReason", "stopReason", "stop_reason", "completionReason"}


def _credential_headers(headers: dict[str, str]) -> str:
    """The request's credential headers, whole: `Authorization: AWS4-HMAC-SHA256 Credential=..., Signature=...`."""
    return "; ".join(f"{name}: {headers[name]}" for name in _CREDENTIAL_HEADERS if headers.get(name))


def _hostile_error(beh: dict[str, Any], headers: dict[str, str]) -> str | None:
    """The message an error body carries under `error_message` / `echo_auth`, else None (the protocol's own)."""
    message = beh.get("error_message")
    if beh.get("echo_auth"):
        message = f"{message or 'request refused'}; request headers were: {_credential_headers(headers)}"
    return None if message is None else str(message)


def _hostile_tree(node: Any, beh: dict[str, Any], leak: str) -> Any:
    if isinstance(node, list):
        return [_hostile_tree(item, beh, leak) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in _TEXT_KEYS and isinstance(value, str):
            if beh.get("lone_surrogates"):
                first, _, rest = value.partition(" ")
                value = f"{first} \ud800 {rest} \udfff"
            value = f"{value} {leak}" if leak else value
        elif key in _USAGE_KEYS and beh.get("usage_value") is not None:
            value = beh["usage_value"]
        elif key in _FINISH_KEYS and beh.get("finish_reason") is not None:
            if isinstance(value, dict) and "reason" in value:  # Jurassic-2: {"reason": "endoftext"}
                value = {**value, "reason": beh["finish_reason"]}
            else:
                value = beh["finish_reason"]
        else:
            value = _hostile_tree(value, beh, leak)
        out[key] = value
    return out


def _hostile_answer(response: Response, beh: dict[str, Any], headers: dict[str, str]) -> Response:
    """A 200 answer (any protocol, any Bedrock family) with the hostile options of `beh` applied."""
    if not any(beh.get(key) is not None and beh.get(key) is not False for key in _HOSTILE_KEYS):
        return response
    status, resp_headers, payload = response
    try:
        out = json.loads(payload)
    except ValueError:
        return response  # "garbage": not JSON, nothing to make worse
    if not isinstance(out, dict):
        return response
    leak = _credential_headers(headers) if beh.get("leak_key") else ""
    out = _hostile_tree(out, beh, leak)
    if isinstance(beh.get("extra"), dict):
        out.update(beh["extra"])
    usage = beh.get("usage_value")
    if usage is not None:
        shown = usage if isinstance(usage, str) else json.dumps(usage)
        shown = shown.encode("ascii", "backslashreplace").decode().replace("\r", " ").replace("\n", " ")
        resp_headers = [(k, shown if k in _USAGE_HEADERS else v) for k, v in resp_headers]
    return status, resp_headers, json.dumps(out, separators=(",", ":")).encode()  # NaN stays NaN, as Python's


# ------------------------------------------------------------------------------------------------------------
# SigV4 shape
# ------------------------------------------------------------------------------------------------------------

_SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/\s,]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/bedrock/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=[0-9a-f]{64}"
)


def _sigv4_shape_error(headers: dict[str, str]) -> str | None:
    """Why a Bedrock request's Authorization header is not a SigV4 signature for service `bedrock` (None: it is
    one): the credential scope, a signed `host` and `x-amz-date` (and `x-amz-security-token` when sent), and an
    `X-Amz-Date` of the scope's day. The signature itself is not recomputed (the server knows no secret)."""
    auth = headers.get("authorization", "")
    match = _SIGV4.fullmatch(auth)
    if match is None:
        return f"Authorization header is not AWS4-HMAC-SHA256 for bedrock: {auth[:40]!r}..."
    signed = match["signed"].split(";")
    needed = ["host", "x-amz-date"] + (["x-amz-security-token"] if "x-amz-security-token" in headers else [])
    missing = [name for name in needed if name not in signed]
    if missing:
        return f"SignedHeaders lacks {', '.join(missing)}"
    if signed != sorted(signed) or any(name not in headers and name != "host" for name in signed):
        return "SignedHeaders are not the sorted names of headers the request carries"
    amz_date = headers.get("x-amz-date", "")
    if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date) or amz_date[:8] != match["date"]:
        return f"X-Amz-Date {amz_date!r} does not match the credential scope's date {match['date']}"
    return None


# ------------------------------------------------------------------------------------------------------------
# Slow trickle
# ------------------------------------------------------------------------------------------------------------

_TRICKLE_DEFAULT = 0.3  # seconds per byte for a scripted "trickle" when the model's `trickle` is not set


class _Trickle(bytes):
    """A body to send one byte at a time, `interval` seconds apart: the whole valid answer, arriving slowly."""

    interval: float

    def __new__(cls, payload: bytes, interval: float) -> _Trickle:
        body = super().__new__(cls, payload)
        body.interval = interval
        return body


def _trickled(response: Response, entry: dict[str, Any], beh: dict[str, Any]) -> Response:
    """A 200 answer as a trickle when the model's `trickle` is set or the script said "trickle", else as it is.

    What a client's per-chunk read timeout never catches: every byte comes well within it."""
    status, headers, payload = response
    interval = float(beh.get("trickle") or 0.0)
    if entry.get("outcome") == "trickle":
        interval = interval or _TRICKLE_DEFAULT
    if status != 200 or interval <= 0:
        return response
    entry["trickle"] = interval
    return status, headers, _Trickle(payload, interval)


def _write_payload(wfile: Any, payload: bytes, stop: threading.Event) -> bool:
    """Write a body (a `_Trickle` one byte at a time); False when stop() cut it short."""
    if not isinstance(payload, _Trickle):
        wfile.write(payload)
        return True
    for i in range(len(payload)):
        wfile.write(payload[i : i + 1])
        wfile.flush()
        if i + 1 < len(payload) and stop.wait(payload.interval):
            return False
    return True


# ------------------------------------------------------------------------------------------------------------
# HTTP plumbing
# ------------------------------------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # 200 clients connecting at once must not hit a tiny listen backlog

    def __init__(self, address: tuple[str, int], provider: ProviderServer):
        self.provider = provider
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on a machine without DNS.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:  # a client going away is not news
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError | ValueError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ProviderServer/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self, method: str) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        headers: dict[str, str] = {}
        for key, value in self.headers.items():
            key = key.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        try:
            response = self.server.provider._dispatch(method, self.path, headers, body)
        except Exception as exc:  # a bug here must answer, not hang the client
            response = (
                500,
                [("content-type", "application/json")],
                _json_bytes({"error": {"message": f"provider_server bug: {type(exc).__name__}: {exc}"}}),
            )
        if response is None:  # stopped while waiting: drop the connection without an answer
            self.close_connection = True
            return
        status, resp_headers, payload = response
        try:
            self.send_response(status)
            for key, value in resp_headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            if headers.get("connection", "").lower() == "close":
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if method != "HEAD":
                if not _write_payload(self.wfile, payload, self.server.provider._stop):
                    self.close_connection = True
        except OSError:
            self.close_connection = True


# ------------------------------------------------------------------------------------------------------------
# The server
# ------------------------------------------------------------------------------------------------------------

_BEDROCK_PATH = re.compile(r"^/model/([^/]+)/(invoke|converse|invoke-with-response-stream|converse-stream)/?$")
_GEMINI_PATH = re.compile(r"^/(v1beta|v1|v1alpha)/models/([^/:]+):(generateContent|streamGenerateContent)$")


def _check_keys(opts: dict[str, Any]) -> None:
    unknown = set(opts) - set(BEHAVIOUR_DEFAULTS)
    if unknown:
        raise TypeError(
            f"unknown behaviour option(s): {', '.join(sorted(unknown))}; known: {', '.join(BEHAVIOUR_DEFAULTS)}"
        )


class ProviderServer:
    """The fake provider endpoint, in a background thread. See the module docstring.

    gemini_api_key: when set, Gemini requests must carry exactly this key (else 400 API_KEY_INVALID); when
    None any non-empty key passes. A missing key is always 403 PERMISSION_DENIED.
    openai_api_key: when set, OpenAI requests need `Authorization: Bearer <it>` (else 401); None checks
    nothing.
    require_aws_auth: Bedrock requests without an Authorization header get 403
    MissingAuthenticationTokenException.
    **defaults: behaviour for all models (keys of BEHAVIOUR_DEFAULTS), like configure(model="*", ...).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency: float = 0.0,
        jitter: float = 0.0,
        seed: int = 0,
        gemini_api_key: str | None = None,
        openai_api_key: str | None = None,
        require_aws_auth: bool = True,
        record_bodies: bool = True,
        **defaults: Any,
    ):
        _check_keys(defaults)
        self.host = host
        self._requested_port = port
        self.seed = seed
        self.gemini_api_key = gemini_api_key
        self.openai_api_key = openai_api_key
        self.require_aws_auth = require_aws_auth
        self.record_bodies = record_bodies
        self._initial_defaults = {**BEHAVIOUR_DEFAULTS, **defaults, "latency": latency, "jitter": jitter}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._reset_state()

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return self._httpd.server_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ProviderServer:
        if self._httpd is not None:
            return self
        self._stop.clear()
        self._httpd = _HTTPServer((self.host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"provider-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stop.set()  # wakes every sleeping request
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    close = stop

    def __enter__(self) -> ProviderServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- behaviour -------------------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        with self._lock:
            self._rng = random.Random(self.seed)
            self._behaviour: dict[str, dict[str, Any]] = {"*": dict(self._initial_defaults)}
            self._scripts: dict[str, deque[Any]] = {}
            self._records: list[dict[str, Any]] = []
            self._in_flight = 0
            self._peak_in_flight = 0

    def reset(self) -> None:
        """Forget recorded requests, per-model behaviour and scripts; defaults and the RNG start over."""
        self._reset_state()

    def configure(self, model: str = "*", **opts: Any) -> None:
        """Set behaviour for `model` (exact id, an fnmatch pattern such as "meta.*", or "*" for all).

        Options are the keys of BEHAVIOUR_DEFAULTS; only those passed change. For a model, None removes the
        override (it inherits from patterns and "*" again); for "*", None is the value itself.
        """
        _check_keys(opts)
        with self._lock:
            current = self._behaviour.setdefault(model, {})
            for key, value in opts.items():
                if value is None and model != "*":
                    current.pop(key, None)
                else:
                    current[key] = value

    def behaviour(self, model: str) -> dict[str, Any]:
        """The effective behaviour for a model: "*" < matching patterns (in configured order) < exact id."""
        with self._lock:
            return self._behaviour_locked(model)

    def _behaviour_locked(self, model: str) -> dict[str, Any]:
        eff = dict(self._behaviour["*"])
        for key, opts in self._behaviour.items():
            if key not in ("*", model) and any(c in key for c in "*?[") and fnmatch.fnmatchcase(model, key):
                eff.update(opts)
        eff.update(self._behaviour.get(model, {}))
        return eff

    def script(self, model: str, statuses: list[Any]) -> None:
        """The next len(statuses) requests for `model` ("*" = any model without its own script) get these
        outcomes, in order: an HTTP status (200 = a normal answer) or "timeout", "malformed" (JSON without
        the answer), "garbage" (not JSON). Appends to a script still pending."""
        items = []
        for s in statuses:
            if isinstance(s, str) and s.lower() in _SCRIPT_WORDS:
                items.append(_SCRIPT_WORDS[s.lower()])
            else:
                items.append(int(s))
        with self._lock:
            self._scripts.setdefault(model, deque()).extend(items)

    # -- records ---------------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Recorded provider requests (control requests excluded), oldest first; a snapshot list."""
        with self._lock:
            return list(self._records)

    def requests_for(self, model: str | None = None, protocol: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.requests
            if (model is None or r["model"] == model) and (protocol is None or r["protocol"] == protocol)
        ]

    @property
    def peak_in_flight(self) -> int:
        """The most provider requests that were being answered at one moment (waiting out their latency
        together) since the start or the last reset: what proves requests do not wait for each other."""
        with self._lock:
            return self._peak_in_flight

    def stats(self) -> dict[str, Any]:
        """Counts: {"total": n, "by_model": {model: {status: n}}, "by_status": {status: n}}."""
        by_model: dict[str, dict[str, int]] = {}
        by_status: dict[str, int] = {}
        for r in self.requests:
            status = str(r["status"])
            by_model.setdefault(str(r["model"]), {}).setdefault(status, 0)
            by_model[str(r["model"])][status] += 1
            by_status[status] = by_status.get(status, 0) + 1
        return {"total": sum(by_status.values()), "by_model": by_model, "by_status": by_status}

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> bool:
        """Wait until at least n provider requests have been recorded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self._records) >= n:
                    return True
            time.sleep(0.01)
        return False

    # -- request handling ------------------------------------------------------------------------------------

    def _decide(self, model: str) -> tuple[Any, float, dict[str, Any]]:
        """(outcome, delay seconds, behaviour); outcome: "ok", "timeout", "malformed", "garbage" or status."""
        with self._lock:
            beh = self._behaviour_locked(model)
            pending = self._scripts.get(model)
            if not pending:
                pending = self._scripts.get("*")
            outcome: Any = None
            if pending:
                outcome = pending.popleft()
                if outcome == 200:
                    outcome = "ok"
            elif beh.get("always_status"):
                outcome = int(beh["always_status"])
                if outcome == 200:
                    outcome = "ok"
            else:
                r = self._rng.random()
                for key, result in (
                    ("p429", 429),
                    ("p500", 500),
                    ("p503", 503),
                    ("p_timeout", "timeout"),
                    ("p_malformed", "malformed"),
                ):
                    p = float(beh.get(key) or 0.0)
                    if r < p:
                        outcome = result
                        break
                    r -= p
                if outcome == "malformed" and self._rng.random() < 1 / 3:
                    outcome = "garbage"
                outcome = outcome or "ok"
            latency = float(beh.get("latency") or 0.0)
            jitter = float(beh.get("jitter") or 0.0)
            delay = self._rng.uniform(latency - jitter, latency + jitter) if jitter else latency
        return outcome, max(0.0, delay), beh

    def _record(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            entry["id"] = len(self._records)
            self._records.append(entry)
        return entry

    def _dispatch(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response | None:
        split = urlsplit(raw_path)
        path = split.path
        if path.startswith("/_control/"):
            return self._control(method, path, split.query, body)

        protocol: str | None = None
        model: str | None = None
        m = _BEDROCK_PATH.match(path)
        g = _GEMINI_PATH.match(path)
        if m and method == "POST":
            model = unquote(m.group(1))
            protocol = "bedrock-converse" if m.group(2).startswith("converse") else "bedrock-invoke"
            streaming = m.group(2) in ("invoke-with-response-stream", "converse-stream")
        elif g and method == "POST":
            model = unquote(g.group(2))
            protocol = "gemini"
            streaming = g.group(3) == "streamGenerateContent"
        else:
            streaming = False
            route = path[3:] if path.startswith("/v1/") else path
            if method == "POST" and route in ("/chat/completions", "/completions", "/embeddings"):
                protocol = {
                    "/chat/completions": "openai-chat",
                    "/completions": "openai-completions",
                    "/embeddings": "openai-embeddings",
                }[route]
            elif method == "GET" and route == "/models":
                return self._openai_models()
            elif method == "GET" and path in ("/", "/health"):
                return 200, [("content-type", "application/json")], b'{"status":"ok"}'

        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
            bad_json = True
        else:
            bad_json = False
        if protocol and protocol.startswith("openai") and isinstance(payload, dict):
            model = str(
                payload.get("model") or ("local-model" if protocol != "openai-embeddings" else "text-embedding-3-small")
            )
        entry = self._record(
            {
                "time": time.time(),
                "method": method,
                "path": path,
                "query": split.query,
                "url": raw_path,
                "headers": headers,
                "json": payload if self.record_bodies else None,
                "body_text": body[:2000].decode("utf-8", "replace") if bad_json else None,
                "model": model,
                "protocol": protocol,
                "status": None,
                "outcome": None,
                "delay": None,
            }
        )
        response = self._serve(protocol, model, method, path, split.query, headers, payload, bad_json, streaming, entry)
        if response is not None and response[0] == 200 and model and protocol != "openai-embeddings":
            response = _hostile_answer(response, self.behaviour(model), headers)
        if response is not None and model:
            response = _trickled(response, entry, self.behaviour(model))
        if response is not None:
            entry["status"] = response[0]
        return response

    def _serve(
        self,
        protocol: str | None,
        model: str | None,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        payload: Any,
        bad_json: bool,
        streaming: bool,
        entry: dict[str, Any],
    ) -> Response | None:
        if protocol is None:
            entry["outcome"] = "not-found"
            return (
                404,
                [("content-type", "application/json")],
                _json_bytes(
                    {
                        "error": {
                            "message": f"no route for {method} {path}",
                            "type": "invalid_request_error",
                            "param": None,
                            "code": "not_found",
                        }
                    }
                ),
            )
        assert model is not None
        if bad_json or not isinstance(payload, dict):
            entry["outcome"] = "bad-request"
            return error_response(protocol, 400, "The request body is not a JSON object.")

        auth = self._check_auth(protocol, headers, query)
        if auth is not None:
            entry["outcome"] = "auth"
            return auth
        if streaming or payload.get("stream") is True:
            entry["outcome"] = "bad-request"
            return error_response(protocol, 400, "Streaming is not supported by the test provider server.")

        outcome, delay, beh = self._decide(model)
        entry["outcome"] = outcome if isinstance(outcome, str) else "error"
        entry["delay"] = delay
        started = time.monotonic()
        with self._lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            if delay and self._stop.wait(delay):
                entry["outcome"] = "dropped"  # stop() woke it: no answer
                return None
            if outcome == "timeout":
                if self._stop.wait(float(beh.get("timeout_sleep") or 0.0)):
                    entry["outcome"] = "dropped"
                    return None
                outcome = "ok"
            if outcome == "trickle":  # a normal answer, trickled by `_dispatch` (see `_trickled`)
                outcome = "ok"
        finally:
            with self._lock:
                self._in_flight -= 1
        if isinstance(outcome, int):
            retry_after = beh.get("retry_after")
            message = None
            if beh.get("echo_key"):
                message = f"request refused (HTTP {outcome}); credential received: {_credential(headers)}"
            message = _hostile_error(beh, headers) or message
            return error_response(protocol, outcome, message, retry_after=float(retry_after) if retry_after else None)
        if outcome == "malformed":
            return 200, [("content-type", "application/json")], b'{"unexpected":true}'
        if outcome == "garbage":
            with self._lock:
                html = self._rng.random() < 0.5
            if html:
                return (
                    200,
                    [("content-type", "text/html")],
                    (
                        b"<html><body><h1>502 Bad Gateway</h1>upstream connect error or disconnect/reset before "
                        b"headers</body></html>"
                    ),
                )
            return 200, [("content-type", "application/json")], b'{"id": "x", "choices": [{"mess'

        latency_ms = int((time.monotonic() - started) * 1000)
        try:
            judged = judge_response(protocol, model, payload, beh)
            if judged is not None:
                return judged
            if protocol == "bedrock-invoke":
                return self._bedrock_invoke(model, payload, beh, latency_ms)
            if protocol == "bedrock-converse":
                return self._bedrock_converse(model, payload, beh, latency_ms)
            if protocol == "gemini":
                return self._gemini(model, payload, beh)
            if protocol == "openai-chat":
                return self._openai_chat(model, payload, beh)
            if protocol == "openai-completions":
                return self._openai_completions(model, payload, beh)
            return self._openai_embeddings(model, payload)
        except _BadRequest as exc:
            entry["outcome"] = "bad-request"
            return error_response(protocol, 400, str(exc))

    def _check_auth(self, protocol: str, headers: dict[str, str], query: str) -> Response | None:
        if protocol.startswith("bedrock"):
            if self.require_aws_auth and not headers.get("authorization"):
                return error_response(
                    protocol, 403, "Missing Authentication Token", code="MissingAuthenticationTokenException"
                )
            problem = _sigv4_shape_error(headers) if self.require_aws_auth else None
            if problem:
                return error_response(protocol, 403, problem, code="IncompleteSignatureException")
            return None
        if protocol == "gemini":
            key = headers.get("x-goog-api-key") or (parse_qs(query).get("key") or [""])[0]
            if not key:
                return error_response(
                    protocol,
                    403,
                    "Method doesn't allow unregistered callers (callers "
                    "without established identity). Please use API Key or other form of "
                    "API consumer identity to call this API.",
                )
            if self.gemini_api_key is not None and key != self.gemini_api_key:
                return error_response(
                    protocol, 400, "API key not valid. Please pass a valid API key.", code="API_KEY_INVALID"
                )
            return None
        if self.openai_api_key is not None:
            auth = headers.get("authorization", "")
            if not auth.lower().startswith("bearer ") or not auth[7:].strip():
                return error_response(
                    protocol,
                    401,
                    "You didn't provide an API key. You need to provide "
                    "your API key in an Authorization header using Bearer auth.",
                    code="missing_api_key",
                )
            if auth[7:].strip() != self.openai_api_key:
                return error_response(protocol, 401, "Incorrect API key provided.", code="invalid_api_key")
        return None

    # -- answers per protocol --------------------------------------------------------------------------------

    @staticmethod
    def _answer(model: str, prompt: str, beh: dict[str, Any], variant: int = 0) -> str:
        if beh.get("answer") is not None:
            return str(beh["answer"])
        return make_answer(prompt, model, chatter=beh.get("chatter"), variant=variant)

    def _bedrock_invoke(self, model: str, body: dict[str, Any], beh: dict[str, Any], latency_ms: int) -> Response:
        family = _bedrock_family(model)
        if family is None:
            raise _BadRequest(f"The provided model identifier is invalid: {model}")
        if family == "ai21":
            prompt = _require_str(body, "prompt")
            answer, cut = _truncate(self._answer(model, prompt, beh), body.get("maxTokens"))
            out: dict[str, Any] = {
                "id": _seed_of(model, prompt) % 10_000,
                "prompt": {"text": prompt, "tokens": _ai21_tokens(prompt)},
                "completions": [
                    {
                        "data": {"text": answer, "tokens": _ai21_tokens(answer)},
                        "finishReason": {"reason": "length" if cut else "endoftext"},
                    }
                ],
            }
        elif family == "titan":
            prompt = _require_str(body, "inputText")
            answer, cut = _truncate(
                self._answer(model, prompt, beh), _dig(body, "textGenerationConfig", "maxTokenCount")
            )
            out = {
                "inputTextTokenCount": count_tokens(prompt),
                "results": [
                    {
                        "tokenCount": count_tokens(answer),
                        "outputText": answer,
                        "completionReason": "LENGTH" if cut else "FINISH",
                    }
                ],
            }
        elif family == "claude-text":
            prompt = _require_str(body, "prompt")
            if "\n\nHuman:" not in prompt:
                raise _BadRequest(
                    'Invalid prompt: prompt must start with "\n\nHuman:" turn after an optional system prompt'
                )
            if "max_tokens_to_sample" not in body:
                raise _BadRequest("Malformed input request: #: required key [max_tokens_to_sample] not found")
            answer, cut = _truncate(" " + self._answer(model, prompt, beh), body.get("max_tokens_to_sample"))
            out = {
                "completion": answer,
                "stop_reason": "max_tokens" if cut else "stop_sequence",
                "stop": None if cut else "\n\nHuman:",
            }
        elif family in ("llama2", "llama"):
            prompt = _require_str(body, "prompt")
            answer, cut = _truncate(self._answer(model, prompt, beh), body.get("max_gen_len"))
            out = {
                "generation": answer,
                "prompt_token_count": count_tokens(prompt),
                "generation_token_count": count_tokens(answer),
                "stop_reason": "length" if cut else "stop",
            }
        elif family == "claude-messages":
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                raise _BadRequest("Malformed input request: #: required key [messages] not found")
            prompt = "\n".join(
                [_text_of_content(body.get("system") or "")] + [_text_of_content(msg) for msg in messages]
            ).strip()
            answer, cut = _truncate(self._answer(model, prompt, beh), body.get("max_tokens"))
            out = {
                "id": f"msg_bdrk_{uuid.uuid4().hex[:24]}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": answer}],
                "stop_reason": "max_tokens" if cut else "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": count_tokens(prompt), "output_tokens": count_tokens(answer)},
            }
        else:  # mistral
            prompt = _require_str(body, "prompt")
            answer, cut = _truncate(self._answer(model, prompt, beh), body.get("max_tokens"))
            out = {"outputs": [{"text": answer, "stop_reason": "length" if cut else "stop"}]}
        headers = [
            ("content-type", "application/json"),
            ("x-amzn-requestid", str(uuid.uuid4())),
            ("x-amzn-bedrock-invocation-latency", str(max(1, latency_ms))),
            ("x-amzn-bedrock-input-token-count", str(count_tokens(prompt))),
            ("x-amzn-bedrock-output-token-count", str(count_tokens(answer))),
        ]
        return 200, headers, _json_bytes(out)

    def _bedrock_converse(self, model: str, body: dict[str, Any], beh: dict[str, Any], latency_ms: int) -> Response:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _BadRequest(
                "1 validation error detected: Value at 'messages' failed to satisfy "
                "constraint: Member must have length greater than or equal to 1"
            )
        system = "\n".join(_text_of_content(s) for s in body.get("system") or [])
        prompt = "\n".join([system] + [_text_of_content(msg) for msg in messages]).strip()
        answer, cut = _truncate(self._answer(model, prompt, beh), _dig(body, "inferenceConfig", "maxTokens"))
        n_in, n_out = count_tokens(prompt), count_tokens(answer)
        out = {
            "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
            "stopReason": "max_tokens" if cut else "end_turn",
            "usage": {"inputTokens": n_in, "outputTokens": n_out, "totalTokens": n_in + n_out},
            "metrics": {"latencyMs": max(1, latency_ms)},
        }
        headers = [("content-type", "application/json"), ("x-amzn-requestid", str(uuid.uuid4()))]
        return 200, headers, _json_bytes(out)

    def _gemini(self, model: str, body: dict[str, Any], beh: dict[str, Any]) -> Response:
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise _BadRequest("* GenerateContentRequest.contents: contents is not specified")
        system = _text_of_content(body.get("systemInstruction") or body.get("system_instruction") or "")
        prompt = "\n".join([system] + [_text_of_content(c) for c in contents]).strip()
        config = body.get("generationConfig") or body.get("generation_config") or {}
        answer, cut = _truncate(self._answer(model, prompt, beh), config.get("maxOutputTokens"))
        n_in, n_out = count_tokens(prompt), count_tokens(answer)
        out = {
            "candidates": [
                {
                    "content": {"parts": [{"text": answer}], "role": "model"},
                    "finishReason": "MAX_TOKENS" if cut else "STOP",
                    "index": 0,
                    "safetyRatings": _SAFETY_RATINGS,
                }
            ],
            "usageMetadata": {"promptTokenCount": n_in, "candidatesTokenCount": n_out, "totalTokenCount": n_in + n_out},
            "modelVersion": model,
            "responseId": uuid.uuid4().hex[:22],
        }
        return 200, [("content-type", "application/json; charset=UTF-8")], _json_bytes(out)

    @staticmethod
    def _openai_headers() -> list[tuple[str, str]]:
        return [("content-type", "application/json"), ("x-request-id", f"req_{uuid.uuid4().hex}")]

    def _openai_chat(self, model: str, body: dict[str, Any], beh: dict[str, Any]) -> Response:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _BadRequest("'messages' is a required property")
        prompt = "\n".join(_text_of_content(m) for m in messages).strip()
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        choices, n_out = [], 0
        for i in range(max(1, int(body.get("n") or 1))):
            answer, cut = _truncate(self._answer(model, prompt, beh, variant=i), limit)
            n_out += count_tokens(answer)
            choices.append(
                {
                    "index": i,
                    "message": {"role": "assistant", "content": answer, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "length" if cut else "stop",
                }
            )
        n_in = count_tokens(prompt)
        out = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
            "system_fingerprint": "fp_provider_server",
            "usage": {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out},
        }
        return 200, self._openai_headers(), _json_bytes(out)

    def _openai_completions(self, model: str, body: dict[str, Any], beh: dict[str, Any]) -> Response:
        raw = body.get("prompt")
        if raw is None:
            raise _BadRequest("'prompt' is a required property")
        prompts = raw if isinstance(raw, list) and all(isinstance(p, str) for p in raw) else [raw]
        limit = body.get("max_tokens", body.get("n_predict"))
        choices, n_in, n_out = [], 0, 0
        for p in prompts:
            prompt = p if isinstance(p, str) else json.dumps(p)
            n_in += count_tokens(prompt)
            for i in range(max(1, int(body.get("n") or 1))):
                answer, cut = _truncate(self._answer(model, prompt, beh, variant=i), limit)
                n_out += count_tokens(answer)
                choices.append(
                    {
                        "index": len(choices),
                        "text": answer,
                        "logprobs": None,
                        "finish_reason": "length" if cut else "stop",
                    }
                )
        out = {
            "id": f"cmpl-{uuid.uuid4().hex[:24]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
            "usage": {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out},
        }
        return 200, self._openai_headers(), _json_bytes(out)

    def _openai_embeddings(self, model: str, body: dict[str, Any]) -> Response:
        raw = body.get("input")
        if raw is None or raw == [] or raw == "":
            raise _BadRequest("'input' is a required property")
        if isinstance(raw, str):
            texts = [raw]
        elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
            texts = [" ".join(map(str, raw))]  # one pre-tokenised input
        elif isinstance(raw, list):
            texts = [x if isinstance(x, str) else " ".join(map(str, x)) for x in raw]
        else:
            raise _BadRequest("'input' must be a string or an array")
        dims = body.get("dimensions") or 64
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(texts):
            vec = embed_text(text, int(dims))
            emb: Any = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode() if as_base64 else vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        n_in = sum(count_tokens(t) for t in texts)
        out = {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": n_in, "total_tokens": n_in}}
        return 200, self._openai_headers(), _json_bytes(out)

    def _openai_models(self) -> Response:
        with self._lock:
            configured = [k for k in self._behaviour if not any(c in k for c in "*?[")]
            seen = [r["model"] for r in self._records if r["protocol"] and r["protocol"].startswith("openai")]
        names = ["gpt-4", "gpt-4o-mini", "gpt-4.1-mini", "local-model", "text-embedding-3-small"]
        for name in configured + seen:
            if name and name not in names:
                names.append(name)
        now = int(time.time())
        data = [{"id": n, "object": "model", "created": now, "owned_by": "provider-server"} for n in names]
        return 200, self._openai_headers(), _json_bytes({"object": "list", "data": data})

    # -- control ---------------------------------------------------------------------------------------------

    def _control(self, method: str, path: str, query: str, body: bytes) -> Response:
        ok = 200, [("content-type", "application/json")], b'{"ok":true}'
        try:
            payload = json.loads(body) if body else {}
            if path == "/_control/health":
                return ok
            if path == "/_control/requests" and method == "GET":
                since = int((parse_qs(query).get("since") or ["0"])[0])
                return 200, [("content-type", "application/json")], _json_bytes(self.requests[since:])
            if path == "/_control/stats" and method == "GET":
                return 200, [("content-type", "application/json")], _json_bytes(self.stats())
            if path == "/_control/reset" and method == "POST":
                self.reset()
                return ok
            if path == "/_control/configure" and method == "POST":
                # {"model": "x", "p429": 0.1}, {"models": {"x": {...}, "*": {...}}}, or a list of the first
                items = payload if isinstance(payload, list) else [payload]
                for item in items:
                    item = dict(item)
                    for name, opts in (item.pop("models", None) or {}).items():
                        self.configure(model=name, **opts)
                    if item:
                        self.configure(model=item.pop("model", "*"), **item)
                return ok
            if path == "/_control/script" and method == "POST":
                self.script(model=payload.get("model", "*"), statuses=payload.get("statuses") or [])
                return ok
        except (TypeError, ValueError, AttributeError) as exc:
            return 400, [("content-type", "application/json")], _json_bytes({"ok": False, "error": str(exc)})
        return (
            404,
            [("content-type", "application/json")],
            _json_bytes({"ok": False, "error": f"no control route {method} {path}"}),
        )


# ------------------------------------------------------------------------------------------------------------
# Judge requests (synthgen verify): structured output per protocol, and completion log-probabilities
# ------------------------------------------------------------------------------------------------------------

_POSITIVE_WORDS = set(
    "love loved great best wonderful happy grateful delighted amazing excellent perfect lovely joy proud "
    "thrilled enjoy enjoyed fantastic brilliant kind hopeful uplifted relieved inspired content energised".split()
)
_NEGATIVE_WORDS = set(
    "hate worst terrible awful sad angry broken late cold rude disappointed frustrated drained anxious "
    "exhausted bitter defeated uneasy discouraged never lost failed junk boring dirty".split()
)


def judged_text(prompt: str) -> str:
    """The text a synthgen judge prompt asks about: its `Text:` line, or the few-shot prompt's last `Sentence:`."""
    found = re.findall(r"^(?:Text|Sentence):[ \t]*(.*)$", prompt, flags=re.MULTILINE)
    return found[-1] if found else prompt


def lexicon_label(text: str, labels: list[str]) -> str:
    """A deterministic judge: a label named in the text, else sentiment words' balance, else the first label."""
    words = set(_WORD_RE.findall(text.lower()))
    named = [label for label in labels if label in words]
    if named:
        return named[0]
    if "positive" in labels and "negative" in labels:
        score = len(words & _POSITIVE_WORDS) - len(words & _NEGATIVE_WORDS)
        if score:
            return "positive" if score > 0 else "negative"
    return labels[0]


def _judge_labels(payload: dict[str, Any]) -> list[str] | None:
    """The label enum of a structured judge request, wherever its protocol puts it."""
    for path in (
        ("response_format", "json_schema", "schema", "properties", "label", "enum"),
        ("generationConfig", "responseSchema", "properties", "label", "enum"),
    ):
        found = _dig(payload, *path)
        if isinstance(found, list):
            return [str(x) for x in found]
    tools = _dig(payload, "toolConfig", "tools")
    if isinstance(tools, list) and tools:
        found = _dig(tools[0], "toolSpec", "inputSchema", "json", "properties", "label", "enum")
        if isinstance(found, list):
            return [str(x) for x in found]
    return None


def judge_response(protocol: str, model: str, payload: dict[str, Any], beh: dict[str, Any]) -> Response | None:
    """The answer to a judge request, in the protocol's shape; None for any other request."""
    if protocol == "openai-completions" and payload.get("logprobs"):
        return _judge_logprobs(model, payload, beh)
    labels = _judge_labels(payload)
    if labels is None:
        return None
    if protocol == "openai-chat":
        prompt = "\n".join(_text_of_content(m) for m in payload.get("messages") or [])
    elif protocol == "gemini":
        prompt = "\n".join(_text_of_content(c) for c in payload.get("contents") or [])
    else:
        prompt = "\n".join(_text_of_content(m) for m in payload.get("messages") or [])
    label = beh.get("judge_label") or lexicon_label(judged_text(prompt), labels)
    verdict = {"label": label, "confidence": 0.9}
    n_in, n_out = count_tokens(prompt), 8
    if protocol == "openai-chat":
        out: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": json.dumps(verdict)}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out},
        }
        return 200, [("content-type", "application/json")], _json_bytes(out)
    if protocol == "gemini":
        out = {
            "candidates": [
                {"content": {"parts": [{"text": json.dumps(verdict)}], "role": "model"}, "finishReason": "STOP"}
            ],
            "usageMetadata": {"promptTokenCount": n_in, "candidatesTokenCount": n_out},
        }
        return 200, [("content-type", "application/json; charset=UTF-8")], _json_bytes(out)
    use = {"toolUse": {"toolUseId": f"tooluse_{uuid.uuid4().hex[:12]}", "name": "classify", "input": verdict}}
    out = {
        "output": {"message": {"role": "assistant", "content": [use]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": n_in, "outputTokens": n_out, "totalTokens": n_in + n_out},
    }
    return 200, [("content-type", "application/json")], _json_bytes(out)


def _judge_logprobs(model: str, payload: dict[str, Any], beh: dict[str, Any]) -> Response:
    """A completions answer of one token with its top log-probabilities: the labels of the few-shot prompt
    (its `Label: x` lines) as first tokens, the lexicon's label the likeliest."""
    prompt = str(payload.get("prompt") or "")
    labels = list(dict.fromkeys(re.findall(r"^[A-Z][a-z]*: ([a-z][a-z0-9_-]*)$", prompt, flags=re.MULTILINE)))
    text = judged_text(prompt)
    label = beh.get("judge_label") or (lexicon_label(text, labels) if labels and text != "N/A" else None)
    top = {f" {name}": (-0.2 if name == label else -2.5 - i * 0.1) for i, name in enumerate(labels)}
    top[" the"] = -4.0
    best = max(top, key=top.get)
    out = {
        "id": f"cmpl-{uuid.uuid4().hex[:24]}",
        "object": "text_completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "text": best,
                "logprobs": {"tokens": [best], "token_logprobs": [top[best]], "top_logprobs": [top]},
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": count_tokens(prompt), "completion_tokens": 1},
    }
    return 200, [("content-type", "application/json")], _json_bytes(out)


class _BadRequest(Exception):
    pass


def _require_str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise _BadRequest(f"Malformed input request: #: required key [{key}] not found")
    return value


def _ai21_tokens(text: str) -> list[dict[str, Any]]:
    tokens, pos = [], 0
    for i, word in enumerate(text.split()):
        start = text.find(word, pos)
        pos = start + len(word)
        tokens.append(
            {
                "generatedToken": {
                    "token": "\u2581" + word,
                    "logprob": -0.05 * (i % 7),
                    "raw_logprob": -0.05 * (i % 7),
                },
                "topTokens": None,
                "textRange": {"start": start, "end": pos},
            }
        )
    return tokens


# ------------------------------------------------------------------------------------------------------------
# Running as a process
# ------------------------------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Fake LLM provider endpoint (Bedrock, Gemini, OpenAI).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = a free port (printed as LISTENING <port>)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--jitter", type=float, default=0.0)
    ap.add_argument("--p429", type=float)
    ap.add_argument("--p500", type=float)
    ap.add_argument("--p503", type=float)
    ap.add_argument("--p-timeout", "--p_timeout", dest="p_timeout", type=float)
    ap.add_argument("--p-malformed", "--p_malformed", dest="p_malformed", type=float)
    ap.add_argument("--always-status", "--always_status", dest="always_status", type=int)
    ap.add_argument("--timeout-sleep", "--timeout_sleep", dest="timeout_sleep", type=float)
    ap.add_argument("--retry-after", "--retry_after", dest="retry_after", type=float)
    ap.add_argument("--answer", help="a fixed answer text for every model")
    ap.add_argument(
        "--no-chatter",
        "--no_chatter",
        dest="chatter",
        action="store_const",
        const=False,
        help="no Llama-2 style chatter around meta.llama2* answers",
    )
    ap.add_argument(
        "--chatter",
        dest="chatter",
        action="store_const",
        const=True,
        help="Llama-2 style chatter around every model's answers",
    )
    ap.add_argument(
        "--model-config",
        "--model_config",
        dest="model_config",
        help='JSON (or a JSON file path): {"model-id, pattern or *": {"p429": 0.5, ...}, ...}',
    )
    ap.add_argument("--gemini-api-key", "--gemini_api_key", dest="gemini_api_key")
    ap.add_argument("--openai-api-key", "--openai_api_key", dest="openai_api_key")
    ap.add_argument(
        "--no-aws-auth",
        "--no_aws_auth",
        dest="require_aws_auth",
        action="store_false",
        help="accept Bedrock requests without an Authorization header",
    )
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    names = (
        "p429",
        "p500",
        "p503",
        "p_timeout",
        "p_malformed",
        "always_status",
        "timeout_sleep",
        "retry_after",
        "answer",
        "chatter",
    )
    defaults = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    srv = ProviderServer(
        args.host,
        args.port,
        latency=args.latency,
        jitter=args.jitter,
        seed=args.seed,
        gemini_api_key=args.gemini_api_key,
        openai_api_key=args.openai_api_key,
        require_aws_auth=args.require_aws_auth,
        **defaults,
    )
    if args.model_config:
        text = args.model_config
        if not text.lstrip().startswith(("{", "[")):
            with open(text, encoding="utf-8") as fh:
                text = fh.read()
        config = json.loads(text)
        for name, opts in config.items() if isinstance(config, dict) else ((c.pop("model", "*"), c) for c in config):
            srv.configure(model=name, **opts)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    srv.start()
    print(f"LISTENING {srv.port}", flush=True)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        srv.stop()
    return 0


def start_subprocess_server(timeout: float = 15.0, **opts: Any) -> tuple[subprocess.Popen[str], str]:
    """Start this file as a server process with the current Python; returns (process, "http://127.0.0.1:PORT").

    opts are the command-line flags with underscores: latency=0.3, p429=0.1, seed=1, model_config={...}
    (a dict or JSON text), chatter=False, require_aws_auth=False, gemini_api_key="...", port=0, ...
    Stop it with stop_subprocess_server(proc) (or proc.terminate(); proc.kill() to simulate a crash).
    """
    cmd = [sys.executable, "-u", __file__]
    for key, value in opts.items():
        if value is None:
            continue
        if key == "chatter":
            cmd.append("--chatter" if value else "--no-chatter")
        elif key == "require_aws_auth":
            if not value:
                cmd.append("--no-aws-auth")
        elif isinstance(value, bool):
            if value:
                cmd.append(f"--{key.replace('_', '-')}")
        else:
            if key == "model_config" and not isinstance(value, str):
                value = json.dumps(value)
            cmd += [f"--{key.replace('_', '-')}", str(value)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def read_first_line() -> None:
        assert proc.stdout is not None
        lines.put(proc.stdout.readline())

    threading.Thread(target=read_first_line, daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"provider server did not print LISTENING within {timeout}s") from None
    if not line.startswith("LISTENING "):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"provider server failed to start (exit {proc.returncode}): {line!r}")
    host = opts.get("host") or "127.0.0.1"
    return proc, f"http://{host}:{int(line.split()[1])}"


def stop_subprocess_server(proc: subprocess.Popen[Any], timeout: float = 5.0) -> int:
    """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
