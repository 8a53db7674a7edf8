"""A local server speaking the providers' batch wire formats, for tests and benchmarks, on one port with the
online endpoints of provider_server.py (every other route goes to a ProviderServer, which also writes each
answer):

- OpenAI Files (`POST /v1/files` multipart, `GET /v1/files/{id}`, `GET /v1/files/{id}/content`) and Batches
  (`POST /v1/batches`, `GET /v1/batches/{id}`, `GET /v1/batches`, `POST /v1/batches/{id}/cancel`);
- the Bedrock control plane (`POST /model-invocation-job`, `GET /model-invocation-job/{id}`,
  `GET /model-invocation-jobs`, `POST /model-invocation-job/{id}/stop`), reading its input from S3 and writing
  `.jsonl.out` and `manifest.json.out` there (S3 is moto's server, `s3_endpoint`);
- Gemini batch mode (`POST /v1beta/models/{m}:batchGenerateContent`, `GET /v1beta/batches/{id}`,
  `GET /v1beta/batches`, `POST /v1beta/batches/{id}:cancel`), the resumable upload and the file download.

A job moves one state per poll (validating -> in_progress -> completed, `steps` polls) and is answered line by
line when it completes. `configure(outcome=...)`: "complete", "partial" (every `error_every`-th line fails),
"expire" (half answered), "fail" (validation fails); `create_delay` holds the answer to a create after the job
exists (the window a kill lands in).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from provider_server import ProviderServer, _HTTPServer, _json_bytes

Response = tuple[int, list[tuple[str, str]], bytes]
_JSON = [("content-type", "application/json")]
# outcome_jobs: how many jobs get `outcome` (None: all); later ones complete
DEFAULTS = {"outcome": "complete", "error_every": 3, "steps": 2, "create_delay": 0.0, "outcome_jobs": None}


def _ok(obj: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    return status, [*_JSON, *(headers or [])], _json_bytes(obj)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _multipart(body: bytes, content_type: str) -> dict[str, bytes]:
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    parts: dict[str, bytes] = {}
    for chunk in body.split(b"--" + boundary):
        if b"\r\n\r\n" not in chunk:
            continue
        head, _, data = chunk.partition(b"\r\n\r\n")
        name = head.split(b'name="', 1)[1].split(b'"', 1)[0].decode()
        parts[name] = data[:-2] if data.endswith(b"\r\n") else data
    return parts


class BatchServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, s3_endpoint: str | None = None, **provider: Any):
        self.host, self._port = host, port
        self.s3_endpoint = s3_endpoint
        self.provider = ProviderServer(host, 0, **provider)
        self._stop = self.provider._stop
        self._lock = threading.Lock()
        self.behaviour = dict(DEFAULTS)
        self.files: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}  # id -> job (every protocol)
        self.creates: list[dict[str, Any]] = []  # every create call that made a job
        self._httpd: _HTTPServer | None = None

    # --- lifecycle ---
    def start(self) -> BatchServer:
        self._httpd = _HTTPServer((self.host, self._port), self)  # type: ignore[arg-type]
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._stop.set()
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> BatchServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://{self.host}:{self._httpd.server_port}"

    def configure(self, **opts: Any) -> None:
        unknown = set(opts) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown batch option(s) {sorted(unknown)}")
        self.behaviour.update(opts)

    def _s3(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.s3_endpoint, region_name="us-east-1")

    # --- routing ---
    def _dispatch(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response | None:
        split = urlsplit(raw_path)
        path, query = split.path, parse_qs(split.query)
        try:
            if path.startswith("/v1/files") or path.startswith("/v1/batches"):
                return self._openai(method, path, query, headers, body)
            if path.startswith("/model-invocation-job"):
                return self._bedrock(method, path, query, body)
            if ":batchGenerateContent" in path or path.startswith(("/v1beta/batches", "/upload/", "/download/")):
                if not headers.get("x-goog-api-key"):
                    return _ok({"error": {"code": 403, "message": "no key", "status": "PERMISSION_DENIED"}}, 403)
                return self._gemini(method, path, raw_path, headers, body)
        except KeyError as exc:
            return _ok({"error": {"message": f"not found: {exc}", "code": 404}}, 404)
        return self.provider._dispatch(method, raw_path, headers, body)

    def _answer_line(self, protocol: str, model: str, body: dict[str, Any]) -> tuple[int, Any]:
        p = self.provider
        beh = p.behaviour(model)
        if protocol == "openai":
            status, _, payload = p._openai_chat(model, body, beh)
        elif protocol == "bedrock-converse":
            status, _, payload = p._bedrock_converse(model, body, beh, 1)
        elif protocol == "bedrock-invoke":
            status, _, payload = p._bedrock_invoke(model, body, beh, 1)
        else:
            status, _, payload = p._gemini(model, body, beh)
        return status, json.loads(payload)

    def _advance(self, job: dict[str, Any]) -> None:
        """One step per poll; the last one answers every line."""
        with self._lock:
            if job["terminal"]:
                return
            job["polls"] += 1
            if job.get("cancel"):
                job["state"], job["terminal"] = "cancelled", True
                return
            if job["polls"] < int(self.behaviour["steps"]):
                job["state"] = "in_progress"
                return
            job["terminal"] = True
        outcome = job["outcome"]
        if outcome == "fail":
            job["state"] = "failed"
            return
        results = []
        for i, (rid, body) in enumerate(job["lines"]):
            if outcome == "expire" and i >= len(job["lines"]) // 2:
                results.append((rid, None, "expired"))
            elif outcome == "partial" and i % int(self.behaviour["error_every"]) == 0:
                results.append((rid, None, "error"))
            else:
                results.append((rid, self._answer_line(job["protocol"], job["model"], body), None))
        job["results"] = results
        job["state"] = "expired" if outcome == "expire" else "completed"

    def _new_job(self, protocol: str, model: str, lines: list[tuple[str, Any]], **extra: Any) -> dict[str, Any]:
        job = {
            "id": extra.pop("id", None) or f"{protocol}-{uuid.uuid4().hex[:12]}",
            "protocol": protocol,
            "model": model,
            "lines": lines,
            "polls": 0,
            "state": "validating",
            "terminal": False,
            "outcome": self.behaviour["outcome"]
            if self.behaviour["outcome_jobs"] is None or len(self.creates) < self.behaviour["outcome_jobs"]
            else "complete",
            "created": time.time(),
            **extra,
        }
        with self._lock:
            self.jobs[job["id"]] = job
            self.creates.append(job)
        delay = float(self.behaviour["create_delay"])
        if delay and self._stop.wait(delay):
            return job
        return job

    # --- OpenAI ---
    def _openai(self, method: str, path: str, query: dict, headers: dict[str, str], body: bytes) -> Response:
        parts = path.strip("/").split("/")  # v1, files|batches, id, (content|cancel)
        if parts[1] == "files":
            if method == "POST":
                form = _multipart(body, headers["content-type"])
                fid = f"file-{uuid.uuid4().hex[:16]}"
                self.files[fid] = form["file"]
                return _ok(self._file(fid, form.get("purpose", b"batch").decode()))
            if len(parts) == 4:
                return 200, [("content-type", "application/octet-stream")], self.files[parts[2]]
            return _ok(self._file(parts[2], "batch"))
        if method == "POST" and len(parts) == 2:
            request = json.loads(body)
            lines = [json.loads(x) for x in self.files[request["input_file_id"]].splitlines() if x.strip()]
            model = lines[0]["body"]["model"] if lines else ""
            job = self._new_job(
                "openai",
                model,
                [(x["custom_id"], x["body"]) for x in lines],
                id=f"batch_{uuid.uuid4().hex[:16]}",
                input=request["input_file_id"],
                metadata=request.get("metadata") or {},
                endpoint=request["endpoint"],
            )
            return _ok(self._batch(job))
        if method == "GET" and len(parts) == 2:
            jobs = sorted((j for j in self.jobs.values() if j["protocol"] == "openai"), key=lambda j: -j["created"])
            after = (query.get("after") or [None])[0]
            if after:
                ids = [j["id"] for j in jobs]
                jobs = jobs[ids.index(after) + 1 :] if after in ids else []
            limit = int((query.get("limit") or ["20"])[0])
            page = [self._batch(j) for j in jobs[:limit]]
            return _ok(
                {
                    "object": "list",
                    "data": page,
                    "first_id": page[0]["id"] if page else None,
                    "last_id": page[-1]["id"] if page else None,
                    "has_more": len(jobs) > limit,
                }
            )
        job = self.jobs[parts[2]]
        if len(parts) == 4 and parts[3] == "cancel":
            job["cancel"] = True
            return _ok({**self._batch(job), "status": "cancelling"})
        self._advance(job)
        return _ok(self._batch(job))

    def _file(self, fid: str, purpose: str) -> dict[str, Any]:
        data = self.files[fid]
        return {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": f"{fid}.jsonl", "purpose": purpose, "status": "processed"}  # fmt: skip

    def _batch(self, job: dict[str, Any]) -> dict[str, Any]:
        status = {"in_progress": "in_progress"}.get(job["state"], job["state"])
        out = {
            "id": job["id"], "object": "batch", "endpoint": job["endpoint"], "errors": None,
            "input_file_id": job["input"], "completion_window": "24h", "status": status,
            "output_file_id": None, "error_file_id": None, "created_at": int(job["created"]),
            "metadata": job["metadata"], "request_counts": {"total": len(job["lines"]), "completed": 0, "failed": 0},
        }  # fmt: skip
        if status == "failed":
            out["errors"] = {"object": "list", "data": [{"code": "invalid_request", "message": "bad line", "line": 1}]}
        if "results" in job and "output_file_id" not in job:
            ok_lines, err_lines = [], []
            for rid, answer, error in job["results"]:
                if answer is not None and answer[0] == 200:
                    response = {"status_code": 200, "request_id": "x", "body": answer[1]}
                    ok_lines.append({"id": f"r_{rid}", "custom_id": rid, "error": None, "response": response})
                elif error == "expired":
                    err_lines.append({"id": f"r_{rid}", "custom_id": rid, "response": None,
                                      "error": {"code": "batch_expired", "message": "not run in time"}})  # fmt: skip
                else:
                    code = answer[0] if answer else 500
                    body = answer[1] if answer else {"error": {"message": "The server had an error"}}
                    err_lines.append({"id": f"r_{rid}", "custom_id": rid, "error": None,
                                      "response": {"status_code": code, "request_id": "x", "body": body}})  # fmt: skip
            for name, lines in (("output_file_id", ok_lines), ("error_file_id", err_lines)):
                fid = None
                if lines:
                    fid = f"file-{uuid.uuid4().hex[:16]}"
                    self.files[fid] = "".join(json.dumps(x) + "\n" for x in lines).encode()
                job[name] = fid
            job["counts"] = (len(ok_lines), len(err_lines))
        if "counts" in job:
            out["request_counts"] = {
                "total": len(job["lines"]),
                "completed": job["counts"][0],
                "failed": job["counts"][1],
            }
            out["output_file_id"], out["error_file_id"] = job.get("output_file_id"), job.get("error_file_id")
        return out

    # --- Bedrock ---
    _BEDROCK_STATES = {"validating": "Validating", "in_progress": "InProgress", "completed": "Completed",
                       "failed": "Failed", "expired": "Expired", "cancelled": "Stopped"}  # fmt: skip

    def _bedrock(self, method: str, path: str, query: dict, body: bytes) -> Response:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if method == "POST" and parts == ["model-invocation-job"]:
            request = json.loads(body)
            for job in self.jobs.values():  # the idempotency token: the job it made, not a second one
                if job["protocol"].startswith("bedrock") and job["token"] == request.get("clientRequestToken"):
                    return _ok({"jobArn": job["id"]})
            bucket, _, key = request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"][5:].partition("/")
            raw = self._s3().get_object(Bucket=bucket, Key=key)["Body"].read()
            lines = [json.loads(x) for x in raw.splitlines() if x.strip()]
            job_id = uuid.uuid4().hex[:12]
            kind = "bedrock-converse" if request.get("modelInvocationType") == "Converse" else "bedrock-invoke"
            job = self._new_job(
                kind, request["modelId"], [(x["recordId"], x["modelInput"]) for x in lines],
                id=f"arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/{job_id}",
                token=request.get("clientRequestToken"),
                name=request["jobName"], request=request, input_key=key, job_id=job_id,
            )  # fmt: skip
            return _ok({"jobArn": job["id"]})
        if method == "GET" and parts == ["model-invocation-jobs"]:
            name = (query.get("nameContains") or [""])[0]
            found = [
                self._bedrock_job(j)
                for j in self.jobs.values()
                if j["protocol"].startswith("bedrock") and name in j["name"]
            ]
            return _ok({"invocationJobSummaries": found})
        job = self._job_by_arn(parts[1])
        if method == "POST" and parts[-1] == "stop":
            job["cancel"] = True
            return _ok({})
        self._advance(job)
        return _ok(self._bedrock_job(job))

    def _job_by_arn(self, ident: str) -> dict[str, Any]:
        for job in self.jobs.values():
            if job["id"] == ident or job.get("job_id") == ident:
                return job
        raise KeyError(ident)

    def _bedrock_job(self, job: dict[str, Any]) -> dict[str, Any]:
        request = job["request"]
        if "results" in job and not job.get("written"):
            self._write_bedrock(job)
        out = {
            "jobArn": job["id"], "jobName": job["name"], "modelId": job["model"], "clientRequestToken": job["token"],
            "roleArn": request["roleArn"], "status": self._BEDROCK_STATES[job["state"]],
            "submitTime": _iso(job["created"]),
            "inputDataConfig": request["inputDataConfig"], "outputDataConfig": request["outputDataConfig"],
            "totalRecordCount": len(job["lines"]), "processedRecordCount": len(job.get("results") or ()),
        }  # fmt: skip
        if job["state"] == "failed":
            out["message"] = "The input file has a line that is not valid JSON."
        return out

    def _write_bedrock(self, job: dict[str, Any]) -> None:
        uri = job["request"]["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
        bucket, _, prefix = uri[5:].partition("/")
        base = f"{prefix.rstrip('/')}/{job['job_id']}/{job['input_key'].rsplit('/', 1)[-1]}"
        lines, ok, errors = [], 0, 0
        inputs = dict(job["lines"])
        for rid, answer, error in job["results"]:
            if answer is not None and answer[0] == 200:
                lines.append({"recordId": rid, "modelInput": inputs[rid], "modelOutput": answer[1]})
                ok += 1
            elif error != "expired":
                lines.append({"recordId": rid, "modelInput": inputs[rid],
                              "error": {"errorCode": 500, "errorMessage": "Internal server error"}})  # fmt: skip
                errors += 1
        s3 = self._s3()
        s3.put_object(Bucket=bucket, Key=f"{base}.out", Body="".join(json.dumps(x) + "\n" for x in lines).encode())
        manifest = {"totalRecordCount": len(job["lines"]), "processedRecordCount": ok + errors,
                    "successRecordCount": ok, "errorRecordCount": errors}  # fmt: skip
        s3.put_object(
            Bucket=bucket, Key=f"{prefix.rstrip('/')}/{job['job_id']}/manifest.json.out", Body=json.dumps(manifest)
        )
        job["written"] = True

    # --- Gemini ---
    _GEMINI_STATES = {"validating": "BATCH_STATE_PENDING", "in_progress": "BATCH_STATE_RUNNING",
                      "completed": "BATCH_STATE_SUCCEEDED", "failed": "BATCH_STATE_FAILED",
                      "expired": "BATCH_STATE_EXPIRED", "cancelled": "BATCH_STATE_CANCELLED"}  # fmt: skip

    def _gemini(self, method: str, path: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        if path == "/upload/v1beta/files" and headers.get("x-goog-upload-command") == "start":
            upload = uuid.uuid4().hex[:10]
            return _ok({}, headers=[("x-goog-upload-url", f"{self.url}/upload/v1beta/files?upload_id={upload}")])
        if path == "/upload/v1beta/files":
            name = f"files/{uuid.uuid4().hex[:12]}"
            self.files[name] = body
            return _ok({"file": {"name": name, "sizeBytes": str(len(body)), "mimeType": "application/jsonl"}})
        if path.startswith("/download/v1beta/"):
            name = path[len("/download/v1beta/") :].removesuffix(":download")
            return 200, [("content-type", "application/jsonl")], self.files[name]
        if ":batchGenerateContent" in path:
            model = unquote(path.split("/models/", 1)[1].split(":", 1)[0])
            batch = json.loads(body)["batch"]
            config = batch["inputConfig"]
            if "fileName" in config:
                items = [json.loads(x) for x in self.files[config["fileName"]].splitlines() if x.strip()]
                lines, inline = [(x["key"], x["request"]) for x in items], False
            else:
                lines = [(x["metadata"]["key"], x["request"]) for x in config["requests"]["requests"]]
                inline = True
            job = self._new_job("gemini", model, lines, id=f"batches/{uuid.uuid4().hex[:12]}",
                                name=batch["displayName"], inline=inline)  # fmt: skip
            return _ok(self._operation(job))
        if method == "GET" and path == "/v1beta/batches":
            ops = [self._operation(j) for j in self.jobs.values() if j["protocol"] == "gemini"]
            return _ok({"operations": ops})
        name = path[len("/v1beta/") :]
        if name.endswith(":cancel"):
            self.jobs[name.removesuffix(":cancel")]["cancel"] = True
            return _ok({})
        job = self.jobs[name]
        self._advance(job)
        return _ok(self._operation(job))

    def _operation(self, job: dict[str, Any]) -> dict[str, Any]:
        meta = {"@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
                "model": f"models/{job['model']}", "displayName": job["name"], "name": job["id"],
                "state": self._GEMINI_STATES[job["state"]], "createTime": _iso(job["created"])}  # fmt: skip
        op: dict[str, Any] = {"name": job["id"], "metadata": meta}
        if job["terminal"]:
            op["done"] = True
        if "results" in job:
            items = []
            for rid, answer, error in job["results"]:
                if answer is not None and answer[0] == 200:
                    items.append({"response": answer[1], "metadata": {"key": rid}, "key": rid})
                elif error != "expired":
                    items.append({"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"},
                                  "metadata": {"key": rid}, "key": rid})  # fmt: skip
            if job["inline"]:
                output = {
                    "inlinedResponses": {
                        "inlinedResponses": [{k: v for k, v in i.items() if k != "key"} for i in items]
                    }
                }
            else:
                fname = job.setdefault("responses", f"files/{uuid.uuid4().hex[:12]}")
                lines = [{k: v for k, v in i.items() if k != "metadata"} for i in items]
                self.files[fname] = "".join(json.dumps(x) + "\n" for x in lines).encode()
                output = {"responsesFile": fname}
            meta["output"] = output
            ok = sum(1 for i in items if "response" in i)
            meta["batchStats"] = {"requestCount": str(len(job["lines"])), "successfulRequestCount": str(ok),
                                  "failedRequestCount": str(len(items) - ok)}  # fmt: skip
            op["response"] = {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput",
                **output,
            }
        return op

    def jobs_named(self, fragment: str) -> list[dict[str, Any]]:
        """Jobs whose metadata or name mention `fragment` (a run id or job key): how many the provider made."""
        return [
            j for j in self.creates
            if fragment in json.dumps(j.get("metadata") or {}) or fragment in str(j.get("name", ""))
        ]  # fmt: skip
