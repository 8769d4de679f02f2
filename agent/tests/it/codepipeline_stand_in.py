"""A stand-in for CodePipeline's job API (PollForJobs, AcknowledgeJob, PutJobSuccessResult,
PutJobFailureResult), for the tests of `runspec worker --codepipeline-action`. moto has no job
API. Every request is validated against botocore's own CodePipeline model (the operation's
input shape), and every answer against its output shape, so the worker is held to the real
API's shapes and bounds. A request that fails is answered as AWS answers it (400,
ValidationException) and recorded in `errors`.

The test drives it over two paths of its own:
  POST /_test/jobs      a job's `data` (JSON): queued with a new id and nonce; answers the id
  GET  /_test/state     {"results": [...], "errors": [...], "acknowledged": [...]}

    python codepipeline_stand_in.py     # prints "listening on http://127.0.0.1:PORT"
"""

import json
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.session
import botocore.validate

MODEL = botocore.session.get_session().get_service_model("codepipeline")
VALIDATOR = botocore.validate.ParamValidator()
LOCK = threading.Lock()
QUEUE = []  # jobs not yet handed out
JOBS = {}  # id -> job
RESULTS = []  # {"operation", "input"}
ERRORS = []
ACKNOWLEDGED = []


def invalid(shape, value):
    report = VALIDATOR.validate(value, shape)
    return report.generate_report() if report.has_errors() else None


def new_job(data, account="123456789012"):
    job = {"id": str(uuid.uuid4()), "nonce": uuid.uuid4().hex, "accountId": account, "data": data}
    JOBS[job["id"]] = job
    QUEUE.append(job)
    return job


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def refuse(self, operation, message):
        with LOCK:
            ERRORS.append({"operation": operation, "message": message})
        self.answer(400, {"__type": "ValidationException", "message": message})

    def do_GET(self):
        if self.path == "/_test/state":
            with LOCK:
                self.answer(200, {"results": RESULTS, "errors": ERRORS, "acknowledged": ACKNOWLEDGED})
        else:
            self.answer(404, {})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/_test/jobs":
            with LOCK:
                job = new_job(json.loads(body))
            return self.answer(200, {"id": job["id"]})
        target = self.headers.get("X-Amz-Target", "")
        prefix, _, operation = target.partition(".")
        if prefix != "CodePipeline_20150709":
            return self.refuse(operation, f"unknown target {target!r}")
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 ") or "/codepipeline/aws4_request" not in auth:
            return self.refuse(operation, "the request is not signed with SigV4 for codepipeline")
        try:
            op = MODEL.operation_model(operation)
        except Exception:
            return self.refuse(operation, f"unknown operation {operation}")
        try:
            params = json.loads(body or b"{}")
        except ValueError as e:
            return self.refuse(operation, f"not JSON: {e}")
        problem = invalid(op.input_shape, params)
        if problem:
            return self.refuse(operation, problem)
        with LOCK:
            output = self.operation(operation, params)
        if isinstance(output, tuple):
            return self.answer(*output)
        problem = invalid(op.output_shape, output) if op.output_shape is not None else None
        if problem:
            with LOCK:
                ERRORS.append({"operation": operation, "message": "stand-in answer: " + problem})
        self.answer(200, output)

    def operation(self, operation, params):
        if operation == "PollForJobs":
            wanted = params["actionTypeId"]
            for job in QUEUE:
                if job["data"].get("actionTypeId") == wanted:
                    QUEUE.remove(job)
                    return {"jobs": [job]}
            return {"jobs": []}
        job = JOBS.get(params.get("jobId"))
        if job is None:
            return (400, {"__type": "JobNotFoundException", "message": "no such job"})
        if operation == "AcknowledgeJob":
            if params["nonce"] != job["nonce"]:
                return (400, {"__type": "InvalidNonceException", "message": "wrong nonce"})
            ACKNOWLEDGED.append(job["id"])
            return {"status": "InProgress"}
        if job["id"] not in ACKNOWLEDGED:
            return (400, {"__type": "InvalidJobStateException", "message": "not acknowledged"})
        if operation in ("PutJobSuccessResult", "PutJobFailureResult"):
            RESULTS.append({"operation": operation, "input": params})
            token = params.get("continuationToken")
            if token:
                # CodePipeline's next job for the action carries the token back.
                data = dict(job["data"])
                data["continuationToken"] = token
                new_job(data, job["accountId"])
            return {}
        return (400, {"__type": "ValidationException", "message": f"{operation} is not served here"})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
