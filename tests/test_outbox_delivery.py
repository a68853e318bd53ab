"""Delivering members' messages: a real loopback webhook receiver, real SQLite (and PostgreSQL
for the lease race), signed posts, retries with backoff, failures, and the ``outbox`` commands."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from slopscore.cli.main import app
from slopscore.delivery.settings import DeliveryConfig
from slopscore.delivery.signing import verify
from slopscore.delivery.worker import DeliveryWorker, deliver_due
from slopscore.review.database import open_queue
from slopscore.review.decisions import decide
from slopscore.review.ingest import upsert_scores
from slopscore.review.outbox import lease_due, list_outbox, outbox_counts, requeue_failed
from slopscore.review.schema import DeliveryState, OutboxMessage
from slopscore.review.validation import utcnow
from tests.test_web_support import scored_frame, write_images

pytestmark = pytest.mark.timeout(120)

SECRET = b"webhook-secret-" + b"k" * 32
TEXT = "Bonjour, could you share your process files? \u00e9\u2713"
runner = CliRunner()


@dataclass
class Received:
    path: str
    headers: object  # email.message.Message: case-insensitive get
    body: bytes


class Receiver:
    """A webhook receiver on 127.0.0.1: records each request, answers from ``script`` (then 200).

    A script step is ``(status, headers)``, or ``("hang", seconds)``: answer nothing for that long.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: list = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append(Received(self.path, self.headers, body))
                    step = receiver.script.pop(0) if receiver.script else (200, {})
                if step[0] == "hang":
                    time.sleep(step[1])
                    self.close_connection = True
                    return
                status, headers = step
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    answer = b"RECEIVER-BODY-NEVER-STORED"
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def make_queue(url: str, tmp_path, n: int = 3):
    engine = open_queue(url)
    upsert_scores(engine, scored_frame(write_images(tmp_path / "media"), n))
    return engine


def notify(engine, queue_item_id: int = 1, now=None) -> str:
    decide(engine, queue_item_id, "notify", "alice", message=TEXT, now=now)
    return stored(engine, queue_item_id).message_id


def stored(engine, queue_item_id: int = 1):
    with engine.connect() as connection:
        return connection.execute(select(OutboxMessage).where(OutboxMessage.queue_item_id == queue_item_id)).one()


def config(url: str, **options) -> DeliveryConfig:
    return DeliveryConfig(webhook_url=url, secret=SECRET, **{"timeout_s": 2.0, **options})


@pytest.fixture
def queue(tmp_path):
    return make_queue(f"sqlite:///{tmp_path / 'q.db'}", tmp_path)


def test_a_notify_decision_is_delivered_once_with_its_stored_bytes_signed(queue, receiver):
    message_id = notify(queue)
    row = stored(queue)
    assert row.state == "queued" and row.attempts == 0
    now = utcnow()
    report = deliver_due(queue, config(receiver.url), now=now)
    assert (report.delivered, report.retrying, report.failed) == (1, 0, 0)
    assert str(report) == "delivered 1, retrying 0, failed 0"
    [got] = receiver.requests
    assert got.path == "/hook" and got.body == row.payload.encode("utf-8") and TEXT.encode() in got.body
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Idempotency-Key"] == message_id == got.headers["Slopscore-Message-Id"]
    assert got.headers["User-Agent"].startswith("slopscore/")
    # checked independently of slopscore's verify()
    fields = dict(part.split("=", 1) for part in got.headers["Slopscore-Signature"].split(","))
    assert set(fields) == {"t", "v1"} and abs(int(fields["t"]) - time.time()) < 60
    expected = hmac.new(SECRET, fields["t"].encode() + b"." + got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    assert verify(SECRET, got.body, got.headers["Slopscore-Signature"], now=time.time())
    row = stored(queue)
    assert row.state == "delivered" and row.attempts == 1 and row.last_error is None
    assert list_outbox(queue)[0].delivered_at == now and row.locked_until is None
    assert deliver_due(queue, config(receiver.url), now=now + timedelta(hours=2)).attempted == 0
    assert len(receiver.requests) == 1  # delivered messages are never posted again


def test_a_503_is_retried_after_a_jittered_backoff_with_the_same_bytes_and_key(queue, receiver):
    message_id = notify(queue)
    receiver.script = [(503, {})]
    t1 = utcnow()
    assert deliver_due(queue, config(receiver.url), now=t1).retrying == 1
    first = list_outbox(queue)[0]
    assert first.state is DeliveryState.QUEUED and first.attempts == 1 and first.last_error == "HTTP 503"
    assert t1 + timedelta(seconds=15) <= first.next_attempt_at <= t1 + timedelta(seconds=30)
    assert first.last_attempt_at == t1
    assert deliver_due(queue, config(receiver.url), now=t1 + timedelta(seconds=14)).attempted == 0  # not due yet
    assert deliver_due(queue, config(receiver.url), now=first.next_attempt_at).delivered == 1
    done = list_outbox(queue)[0]
    assert done.state is DeliveryState.DELIVERED and done.attempts == 2 and done.last_error is None
    assert done.delivered_at == first.next_attempt_at
    assert [r.body for r in receiver.requests] == [receiver.requests[0].body] * 2
    assert {r.headers["Idempotency-Key"] for r in receiver.requests} == {message_id}


@pytest.mark.parametrize(("status", "retry_after", "wait_s"),
                         [(429, "600", 600), (503, "99999", 3600), (503, "soon", None)])
def test_a_numeric_retry_after_is_honoured_up_to_the_cap(queue, receiver, status, retry_after, wait_s):
    notify(queue)
    receiver.script = [(status, {"Retry-After": retry_after})]
    now = utcnow()
    deliver_due(queue, config(receiver.url), now=now)
    waited = (list_outbox(queue)[0].next_attempt_at - now).total_seconds()
    assert waited == pytest.approx(wait_s) if wait_s else 15 <= waited <= 30


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_a_refusing_4xx_fails_the_message_at_once_and_keeps_no_body(queue, receiver, status):
    notify(queue)
    receiver.script = [(status, {})]
    assert deliver_due(queue, config(receiver.url), now=utcnow()).failed == 1
    row = stored(queue)
    assert row.state == "failed" and row.attempts == 1 and row.last_error == f"HTTP {status}"
    assert row.next_attempt_at is None and row.locked_until is None
    assert deliver_due(queue, config(receiver.url), now=utcnow() + timedelta(days=1)).attempted == 0


def test_a_receiver_that_never_answers_times_out_and_is_retried(queue, receiver):
    notify(queue)
    receiver.script = [("hang", 2.0)]
    started = time.monotonic()
    report = deliver_due(queue, config(receiver.url, timeout_s=0.3), now=utcnow())
    assert time.monotonic() - started < 1.8 and report.retrying == 1
    row = stored(queue)
    assert row.state == "queued" and row.last_error == "timed out" and row.attempts == 1


def test_a_closed_port_is_a_refused_connection_to_retry(queue):
    notify(queue)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert deliver_due(queue, config(f"http://127.0.0.1:{port}/hook"), now=utcnow()).retrying == 1
    assert stored(queue).last_error == "connection refused"


def test_when_the_attempts_run_out_the_message_fails_and_an_admin_can_queue_it_again(queue, receiver):
    message_id = notify(queue)
    receiver.script = [(500, {}), (502, {})]
    settings = config(receiver.url, max_attempts=2)
    now = utcnow()
    assert deliver_due(queue, settings, now=now).retrying == 1
    assert deliver_due(queue, settings, now=now + timedelta(minutes=2)).failed == 1
    row = stored(queue)
    assert row.state == "failed" and row.attempts == 2 and row.last_error == "HTTP 502"
    assert outbox_counts(queue)[DeliveryState.FAILED] == 1
    assert requeue_failed(queue, message_id, now=now + timedelta(minutes=3)) == 1
    assert stored(queue).state == "queued" and stored(queue).attempts == 0
    assert deliver_due(queue, settings, now=now + timedelta(minutes=3)).delivered == 1
    assert len(receiver.requests) == 3


def test_a_redirect_is_not_followed_and_counts_as_a_failure(queue, receiver):
    notify(queue)
    receiver.script = [(302, {"Location": receiver.url.replace("/hook", "/elsewhere")})]
    assert deliver_due(queue, config(receiver.url), now=utcnow()).retrying == 1
    assert [r.path for r in receiver.requests] == ["/hook"]
    assert stored(queue).last_error.startswith("HTTP 302") and stored(queue).state == "queued"


def test_a_withdrawn_message_is_never_delivered(queue, receiver):
    notify(queue)
    decide(queue, 1, "reopen", "alice", note="wrong member")
    assert stored(queue).state == "withdrawn"
    assert deliver_due(queue, config(receiver.url), now=utcnow() + timedelta(hours=1)).attempted == 0
    assert receiver.requests == []


def test_two_workers_leasing_at_once_never_take_the_same_message(queue_url, tmp_path):
    engine = make_queue(queue_url, tmp_path, n=24)
    for item in range(1, 25):
        notify(engine, item)
    now = utcnow() + timedelta(seconds=1)
    barrier, taken = threading.Barrier(4), [[] for _ in range(4)]

    def work(k):
        barrier.wait()
        while batch := lease_due(engine, now=now, limit=3, lease_seconds=60):
            taken[k] += [record.id for record, _ in batch]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    everything = [row_id for ids in taken for row_id in ids]
    assert sorted(everything) == sorted(set(everything)) and len(everything) == 24
    assert lease_due(engine, now=now + timedelta(seconds=59), limit=50, lease_seconds=60) == []
    again = lease_due(engine, now=now + timedelta(seconds=61), limit=50, lease_seconds=60)
    assert len(again) == 24  # a dead worker's lease runs out and the rows are taken again
    engine.dispose()


def test_the_background_worker_delivers_soon_survives_a_failing_pass_and_stops_promptly(queue, receiver, monkeypatch):
    import slopscore.delivery.worker as worker_module

    real, calls = worker_module.lease_due, []

    def flaky(*args, **kwargs):  # the database away for one pass
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database away")
        return real(*args, **kwargs)

    monkeypatch.setattr(worker_module, "lease_due", flaky)
    worker = DeliveryWorker(queue, config(receiver.url), poll_s=0.2).start()
    try:
        notify(queue)
        deadline = time.monotonic() + 5
        while stored(queue).state != "delivered" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stored(queue).state == "delivered" and len(calls) >= 2 and worker.running
    finally:
        started = time.monotonic()
        assert worker.stop(timeout=3)
    assert time.monotonic() - started < 1.0 and not worker.running


def _secret_file(tmp_path, content: bytes = SECRET + b"\n", mode: int = 0o600):
    path = tmp_path / "webhook.secret"
    path.write_bytes(content)
    path.chmod(mode)
    return str(path)


def test_outbox_commands_deliver_list_and_retry(tmp_path, receiver):
    db = f"sqlite:///{tmp_path / 'q.db'}"
    engine = make_queue(db, tmp_path)
    delivered_id, failed_id = notify(engine, 1), notify(engine, 2)
    receiver.script = [(200, {}), (403, {})]
    secret = _secret_file(tmp_path)
    ran = runner.invoke(app, ["outbox", "deliver", "--db", db, "--webhook-url", receiver.url, "--secret-file", secret])
    assert ran.exit_code == 0, ran.output
    assert "delivered 1, retrying 0, failed 1" in ran.output and "plain http" in ran.output
    assert "can read the webhook secret" not in ran.output
    listed = runner.invoke(app, ["outbox", "list", "--db", db])
    assert listed.exit_code == 0 and TEXT not in listed.output
    lines = listed.output.splitlines()
    assert lines[0].startswith(f"{failed_id}\tu001\tfailed\tattempts 1") and lines[0].endswith("HTTP 403")
    assert lines[1].startswith(f"{delivered_id}\tu000\tdelivered\tattempts 1")
    assert "queued 0, delivered 1, failed 1, withdrawn 0" in listed.output
    only = runner.invoke(app, ["outbox", "list", "--db", db, "--state", "failed"])
    assert only.exit_code == 0 and delivered_id not in only.output and failed_id in only.output
    assert runner.invoke(app, ["outbox", "retry", failed_id, "--db", db]).exit_code == 0
    assert stored(engine, 2).state == "queued"
    ran = runner.invoke(app, ["outbox", "deliver", "--db", db, "--webhook-url", receiver.url, "--secret-file", secret])
    assert "delivered 1, retrying 0, failed 0" in ran.output and stored(engine, 2).state == "delivered"
    none_left = runner.invoke(app, ["outbox", "retry", "--all-failed", "--db", db])
    assert none_left.exit_code == 0 and none_left.output.strip() == "queued 0 messages again"
    readable = _secret_file(tmp_path, mode=0o644)
    warned = runner.invoke(app, ["outbox", "deliver", "--db", db, "--webhook-url", receiver.url, "--secret-file", readable])
    assert warned.exit_code == 0 and "other accounts can read the webhook secret file" in warned.output


@pytest.mark.parametrize("case", ["short secret", "missing secret", "ftp url", "retry delivered",
                                  "retry unknown", "retry nothing", "bad state", "no queue"])
def test_outbox_commands_refuse_bad_input_with_one_error_line(tmp_path, receiver, case):
    db = f"sqlite:///{tmp_path / 'q.db'}"
    engine = make_queue(db, tmp_path)
    message_id = notify(engine)
    deliver = ["outbox", "deliver", "--db", db, "--webhook-url", receiver.url, "--secret-file", _secret_file(tmp_path)]
    args = {
        "short secret": deliver[:-1] + [_secret_file(tmp_path, b"too short\n")],
        "missing secret": deliver[:-1] + [str(tmp_path / "nope")],
        "ftp url": [*deliver[:5], "ftp://platform.example/hook", *deliver[6:]],
        "retry delivered": ["outbox", "retry", message_id, "--db", db],
        "retry unknown": ["outbox", "retry", "00000000-0000-0000-0000-000000000000", "--db", db],
        "retry nothing": ["outbox", "retry", "--db", db],
        "bad state": ["outbox", "list", "--db", db, "--state", "sent"],
        "no queue": ["outbox", "list", "--db", f"sqlite:///{tmp_path / 'typo.db'}"],
    }[case]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith("error:") and len(result.output.strip().splitlines()) == 1
    assert receiver.requests == [] and stored(engine).state == "queued"
