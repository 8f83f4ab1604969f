"""Protocol-level fuzzing: malformed request lines, header blocks and chunked framing, sent on
raw sockets to the service under real Gunicorn.

A seeded generator starts from a valid request (a token in its query and its Authorization
header) and applies one to three mutations. For every case: each answer is JSON, 4xx (or 2xx
when the mutation left a valid request; 501 only for an unknown transfer coding), never 500;
the service writes exactly one request log line per answer, with the answer's status; no line
or body carries the token; the workers keep serving and a good request is answered correctly.

PROTOCOL_FUZZ_CASES (default 300) sets the number of cases; PROTOCOL_FUZZ_SEED the seed, which is
fixed when CI is set and random otherwise (a failure names it, to replay the run).
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from dataclasses import dataclass, field

from tests.gunicorn_process import GunicornProcess
from tests.security.http_edge_client import Answer, exchange, log_size, wait_for_request_lines

SECRET = "fuzz-secret-token-e41b"  # noqa: S105 - a marker to look for, not a password
CASES = int(os.environ.get("PROTOCOL_FUZZ_CASES", "300"))
_CI_SEED = 20261201
SEED = int(
    os.environ.get("PROTOCOL_FUZZ_SEED")
    or (_CI_SEED if os.environ.get("CI") else random.SystemRandom().randrange(2**32))
)
TARGETS = [
    "/predict",
    "/vertex/predict",
    "/v2/models/fashion-mnist/infer",
    "/ready",
    "/v2/health/ready",
]
ODD_BYTES = [
    b"\t",
    b"\x00",
    b"\x7f",
    b"\xc3\xa9",
    b"\xff",
    b" ",
    b'"',
    b"<",
    b"\r",
    b"\n",
    b"%",
    b"#",
]
BODIES = [b'{"instances": []}', b'{"inputs": []}', b"\x89PNG\r\n\x1a\n", b"[" * 50, b""]


@dataclass
class Request:
    """A request as parts, mutated in place, then serialised by `raw`."""

    method: bytes = b"POST"
    target: bytes = b"/predict?access_token=" + SECRET.encode() + b"&page=2"
    version: bytes = b"HTTP/1.1"
    headers: list[bytes] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)  # size lines and data, already framed
    body: bytes = b""
    framing: str = "chunked"  # chunked, length or none
    line_end: bytes = b"\r\n"

    def raw(self) -> bytes:
        end = self.line_end
        head = b" ".join(part for part in (self.method, self.target, self.version) if part)
        headers = list(self.headers)
        if self.framing == "chunked":
            headers.append(b"Transfer-Encoding: chunked")
            body = b"".join(self.chunks)
        elif self.framing == "length":
            headers.append(b"Content-Length: %d" % len(self.body))
            body = self.body
        else:
            body = b""
        return head + end + b"".join(h + end for h in headers) + end + body


def base_request(rng: random.Random) -> Request:
    path = rng.choice(TARGETS)
    body = rng.choice(BODIES)
    request = Request(
        method=rng.choice([b"POST", b"GET", b"PUT"]),
        target=path.encode() + b"?access_token=" + SECRET.encode() + b"&page=2",
        headers=[
            b"Host: fuzz.test",
            b"Authorization: Bearer " + SECRET.encode(),
            b"Content-Type: application/json",
        ],
        body=body,
        framing=rng.choice(["chunked", "chunked", "length"]),
    )
    request.chunks = [b"%x\r\n%s\r\n" % (len(body), body)] if body else []
    request.chunks.append(b"0\r\n\r\n")
    return request


def _splice(rng: random.Random, data: bytes, insert: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + insert + data[at + rng.randrange(2) :]


def mutate_request_line(rng: random.Random, request: Request) -> None:
    part = rng.choice(["method", "target", "version"])
    choice = rng.randrange(6)
    if choice == 0:
        setattr(request, part, _splice(rng, getattr(request, part), rng.choice(ODD_BYTES)))
    elif choice == 1:
        setattr(request, part, b"")
    elif choice == 2:
        request.target += b"&pad=" + b"a" * rng.choice([100, 5000, 9000])
    elif choice == 3:
        request.version = rng.choice(
            [b"HTTP/1.10", b"HTTP/2.0", b"HTTP/1", b"http/1.1", b"HTTP/0.9"]
        )
    elif choice == 4:
        request.target = b"http://fuzz.test" + request.target
    else:
        request.line_end = b"\n"


def mutate_headers(rng: random.Random, request: Request) -> None:
    secret = SECRET.encode()
    request.headers += rng.choice(
        [
            [b"Authorization Bearer " + secret + b": y"],
            [b"Authorization Bearer " + secret],
            [b"X-A\x00b: " + secret],
            [b"X-Folded: a", b" folded " + secret],
            [b"Content-Length: 5", b"Content-Length: 6"],
            [b"Content-Length: +5"],
            [b"Content-Length: 99999999999"],
            [b"Transfer-Encoding: bogus"],
            [b"Transfer-Encoding: gzip, chunked"],
            [b"Host: second.test"],
            [b"X-Pad: " + b"a" * rng.choice([100, 9000])],
            [b"X-F%d: 1" % i for i in range(rng.choice([50, 120]))],
            [b"X-Value: \xff" + secret],
            [b"Expect: 100-continue"],
            [b"Expect: bogus"],
            [b"Content-Encoding: gzip"],
            [b": empty-name"],
        ]
    )
    if rng.random() < 0.2:
        request.headers = [h for h in request.headers if not h.startswith(b"Host:")]


def mutate_chunked_framing(rng: random.Random, request: Request) -> None:
    request.framing = "chunked"
    data = b"abcde"
    size = rng.choice(
        [
            b"zz",
            b"-5",
            b"0x5",
            b"ffffffffffffffff",
            b" 5",
            b"5 ",
            b"5;ext=1",
            b"5;\x01",
            b"",
            b"4",
            b"6",
        ]
    )
    ending = rng.choice([b"\r\n", b"", b"XX", b"\n"])
    trailer = rng.choice(
        [b"", b"X-Trailer: ok\r\n", b"Bad Trailer\r\n", b"X-T: " + b"a" * 9000 + b"\r\n"]
    )
    terminator = rng.choice([b"0\r\n" + trailer + b"\r\n", b"", b"0\r\n"])
    request.chunks = [size + b"\r\n" + data + ending, terminator]


MUTATIONS = [mutate_request_line, mutate_headers, mutate_chunked_framing]


def generate(rng: random.Random) -> bytes:
    request = base_request(rng)
    for mutation in rng.sample(MUTATIONS, k=rng.randint(1, 3)):
        mutation(rng, request)
    return request.raw()


def problems_with(answers: list[Answer], lines: list[dict]) -> list[str]:
    """What breaks the invariants in one case's answers and request log lines."""
    problems = []
    final = [answer for answer in answers if answer.status != 100]  # 100 Continue is interim
    for answer in final:
        if answer.status >= 500 and answer.status != 501:
            problems.append(f"answered {answer.status}")
        if answer.headers.get("content-type") != "application/json":
            problems.append(f"{answer.status} answered as {answer.headers.get('content-type')}")
        elif answer.status >= 400 and "error" not in answer.json():
            problems.append(f"{answer.status} without an error body")
        if SECRET.encode() in answer.body:
            problems.append("the token echoed in the body")
    logged = Counter(line["httpRequest"]["status"] for line in lines)
    if logged != Counter(answer.status for answer in final):
        problems.append(f"log lines {dict(logged)} for answers {[a.status for a in final]}")
    for line in lines:
        if line["severity"] != ("INFO" if line["httpRequest"]["status"] < 400 else "WARNING"):
            problems.append(f"logged at {line['severity']}: {line['message']}")
        if line["httpRequest"]["status"] == 501 and line.get("error_code") != (
            "UNSUPPORTED_TRANSFER_CODING"
        ):
            problems.append("501 for something else than a transfer coding")
        if SECRET in json.dumps(line):
            problems.append("the token in a log line")
    return problems


def good_prediction_answered(server: GunicornProcess) -> bool:
    raw = (
        b"POST /predict HTTP/1.1\r\nHost: fuzz.test\r\nContent-Type: application/json\r\n"
        b'Content-Length: 17\r\n\r\n{"instances": []}'
    )
    answers = exchange(server.port, raw)
    return [answer.status for answer in answers] == [422]  # EMPTY_BATCH: parsed and answered


def test_malformed_protocol_cases_get_json_4xx_and_one_log_line(
    live_service: GunicornProcess,
) -> None:
    rng = random.Random(SEED)
    workers = live_service.worker_pids()
    failures = []
    for index in range(CASES):
        raw = generate(rng)
        offset = log_size(live_service)
        answers = exchange(live_service.port, raw, timeout=15)
        final = [answer for answer in answers if answer.status != 100]
        lines = wait_for_request_lines(live_service, offset, count=len(final), timeout=1.0)
        problems = problems_with(answers, lines)
        if index % 50 == 49 and not good_prediction_answered(live_service):
            problems.append("a good request was not answered after this case")
        if problems:
            failures.append(f"case {index}: {problems}\n    {raw[:300]!r}")

    log = live_service.log_text()
    assert not failures, f"seed {SEED} (PROTOCOL_FUZZ_SEED):\n" + "\n".join(failures[:20])
    assert SECRET not in log, f"seed {SEED}: the token reached stdout/stderr"
    assert "Traceback" not in log, f"seed {SEED}: a traceback was printed"
    assert live_service.worker_pids() == workers, f"seed {SEED}: a worker was replaced"
    assert good_prediction_answered(live_service)
