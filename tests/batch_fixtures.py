"""The batch test bed: moto's S3 server, the batch server (with the online provider server behind it), every
provider's environment pointing at them. Used by tests/test_batch*.py and benchmarks/bench_batch.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUCKET = "synthgen-batch-test"
ROLE = "arn:aws:iam::123456789012:role/synthgen-batch"
GEMINI_KEY = "test-gemini-key-123456"
OPENAI_KEY = "sk-test-openai-key-123456"


@contextmanager
def batch_bed(tmp: Path, **provider: object) -> Iterator[tuple[object, dict[str, str]]]:
    """(BatchServer, the environment to run synthgen with); the environment is also set in this process."""
    import logging

    import boto3
    from batch_server import BatchServer
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    s3_url = f"http://127.0.0.1:{moto._server.server_port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": s3_url,
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws" / "credentials"),
        "AWS_CONFIG_FILE": str(tmp / "no-aws" / "config"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "GEMINI_API_KEY": GEMINI_KEY,
        "OPENAI_API_KEY": OPENAI_KEY,
    }
    more = ["AWS_ENDPOINT_URL_BEDROCK", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "GEMINI_BASE_URL", "OPENAI_BASE_URL"]
    saved = {k: os.environ.get(k) for k in [*env, *more, "AWS_PROFILE", "AWS_SESSION_TOKEN"]}
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.update(env)
    server = BatchServer(s3_endpoint=s3_url, latency=0.0, jitter=0.0, seed=0, gemini_api_key=GEMINI_KEY, **provider)
    server.start()
    try:
        urls = {
            "AWS_ENDPOINT_URL_BEDROCK": server.url,
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": server.url,
            "GEMINI_BASE_URL": server.url,
            "OPENAI_BASE_URL": f"{server.url}/v1",
        }
        os.environ.update(urls)
        boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield server, {**env, **urls}
    finally:
        server.stop()
        moto.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
