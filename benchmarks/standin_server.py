"""A zero-latency stand-in for the four HTTP protocols, fast enough never to be what a client benchmark measures.

    python benchmarks/standin_server.py [--port 0]        # prints LISTENING <port>

One asyncio process answering HTTP/1.1 keep-alive with one canned answer per protocol, in each provider's shape:
OpenAI chat completions (`/v1/chat/completions`), Gemini (`/v1beta/models/M:generateContent`), Bedrock
InvokeModel (`/model/M/invoke`, the Llama 2 shape with Bedrock's token-count headers) and Converse
(`/model/M/converse`). Nothing is checked (no key, no signature) and nothing is recorded: the provider test server
(tests/provider_server.py) does that, at a few thousand requests per second; this one answers ten times as many on
one core. GET /_stats gives the requests answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re

ANSWER = "Thanks to the team, my work environment left me grateful, and the coffee mug only made it better."

_BODIES = {
    "openai-chat": {
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 60, "completion_tokens": 19, "total_tokens": 79},
    },
    "gemini": {
        "candidates": [{"content": {"parts": [{"text": ANSWER}], "role": "model"}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 60, "candidatesTokenCount": 19, "totalTokenCount": 79},
    },
    "bedrock-invoke": {
        "generation": ANSWER,
        "prompt_token_count": 60,
        "generation_token_count": 19,
        "stop_reason": "stop",
    },
    "bedrock-converse": {
        "output": {"message": {"role": "assistant", "content": [{"text": ANSWER}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 60, "outputTokens": 19, "totalTokens": 79},
        "metrics": {"latencyMs": 1},
    },
}
_EXTRA = {
    "bedrock-invoke": b"x-amzn-bedrock-input-token-count: 60\r\nx-amzn-bedrock-output-token-count: 19\r\n",
}


def _response(protocol: str) -> bytes:
    body = json.dumps(_BODIES[protocol], separators=(",", ":")).encode()
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" + _EXTRA.get(protocol, b"")
    return head + f"content-length: {len(body)}\r\n\r\n".encode() + body


_RESPONSES = {p: _response(p) for p in _BODIES}
_ROUTE = re.compile(
    rb"^POST (?:/v1/chat/completions|/v1beta/models/[^ ]+:generateContent|/model/[^/ ]+/(invoke|converse)) "
)
_COUNT = [0]


class _Conn(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            length = int(match.group(1)) if match else 0
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(self._answer(head))

    @staticmethod
    def _answer(head: bytes) -> bytes:
        if head.startswith(b"GET /_stats"):
            body = json.dumps({"total": _COUNT[0]}).encode()
            return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        route = _ROUTE.match(head)
        _COUNT[0] += 1
        if route is None:
            return b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
        if head.startswith(b"POST /v1/"):
            return _RESPONSES["openai-chat"]
        if head.startswith(b"POST /v1beta/"):
            return _RESPONSES["gemini"]
        return _RESPONSES["bedrock-" + route.group(1).decode()]


async def serve(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Conn, host, port, backlog=2048)
    print(f"LISTENING {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
