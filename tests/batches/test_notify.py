"""Notification hooks: run once per ending with the JSON on stdin (or POSTed, signed), never again
after a restart, within a timeout, and a failing hook never changes the job."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from jobs.service import SubmitSpec

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def ended_job(service, clock, prompt="notify me"):
    job = service.submit_new(SubmitSpec(prompt=prompt))
    for _ in range(200):
        if service.get_job(job.id).job_status.is_terminal:
            return service.get_job(job.id)
        clock.advance(5.0)
        service.run_pass()
    raise AssertionError("job did not end")


def test_a_command_runs_once_with_the_jobs_json(db_service, emulator, clock, tmp_path):
    service = db_service()
    out = tmp_path / "hook.out"
    job = service.submit_new(SubmitSpec(prompt="tell me when done"))
    service.notify.attach("job", job.id, f"cat >> {out}; echo ran")
    assert service.notify.run_due(clock.now()) == 0  # not ended yet: nothing runs
    ended_job(service, clock)
    assert service.notify.run_due(clock.now()) == 1
    assert service.notify.run_due(clock.now()) == 0
    restarted = db_service(owner="after-restart")  # a new process: the store remembers
    assert restarted.notify.run_due(clock.now()) == 0
    [line] = out.read_text().splitlines()
    payload = json.loads(line)
    assert payload["type"] == "job.ended" and payload["job"]["id"] == job.id
    assert payload["job"]["status"] == "completed" and payload["job"]["output_text"]
    notification = service.notify.for_subject("job", job.id)
    assert notification.state == "sent" and notification.detail == "exit 0: ran"


def test_two_processes_run_a_hook_once(db_service, emulator, clock, tmp_path):
    first, second = db_service(owner="a"), db_service(owner="b")
    out = tmp_path / "hook.out"
    job = first.submit_new(SubmitSpec(prompt="x"))
    first.notify.attach("job", job.id, f"echo once >> {out}")
    ended_job(first, clock)
    barrier = threading.Barrier(2)

    def run(service):
        barrier.wait()
        service.notify.run_due(clock.now())

    threads = [threading.Thread(target=run, args=(s,)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert out.read_text() == "once\n"


def test_a_failing_or_hanging_hook_is_recorded_and_the_job_unchanged(
    make_service, make_settings, emulator, clock
):
    service = make_service(make_settings(**{"notify.timeout": 1.0}))
    failing = service.submit_new(SubmitSpec(prompt="a"))
    hanging = service.submit_new(SubmitSpec(prompt="b"))
    service.notify.attach("job", failing.id, "echo boom >&2; exit 3")
    service.notify.attach("job", hanging.id, "sleep 30")
    ended_job(service, clock, "c")
    for job_id in (failing.id, hanging.id):
        while not service.get_job(job_id).job_status.is_terminal:
            clock.advance(5.0)
            service.run_pass()
    before = {j: service.get_job(j).status for j in (failing.id, hanging.id)}
    assert service.notify.run_due(clock.now()) == 2
    first = service.notify.for_subject("job", failing.id)
    second = service.notify.for_subject("job", hanging.id)
    assert (first.state, first.detail) == ("failed", "exit 3: boom")
    assert second.state == "failed" and "timed out after 1s" in second.detail
    assert {j: service.get_job(j).status for j in before} == before
    from jobs.app import App
    from jobs.doctor import run_checks

    app = App(service.settings, service.store.db, service.store, service.gateway, service)
    checks = {c.name: c for c in run_checks(app)}
    assert "2 hook(s) failed" in checks["notifications"].detail


def test_an_interrupted_hook_is_not_run_again(service, emulator, clock, tmp_path):
    job = ended_job(service, clock)
    service.notify.attach("job", job.id, f"echo ran >> {tmp_path / 'out'}")
    [due] = service.notify.store.due(10)
    assert service.notify.store.claim(due.id, "a-process-that-dies", clock.now())
    clock.advance(3600)
    assert service.notify.run_due(clock.now()) == 0
    notification = service.notify.for_subject("job", job.id)
    assert notification.state == "failed" and "interrupted" in notification.detail
    assert not (tmp_path / "out").exists()


def test_a_batch_notifies_once_when_its_last_line_ends(service, emulator, clock, tmp_path):
    out = tmp_path / "batch.out"
    parsed = service.batches.parse(b"one\ntwo\nthree\n", source="p.txt")
    recorded = service.batches.record(parsed, name="p", notify=f"cat > {out}")
    service.batches.submit_pending(recorded.batch.id)
    summary = service.batches.wait(recorded.batch.id)  # runs due hooks at the end
    assert summary.all_completed
    payload = json.loads(out.read_text())
    assert payload["type"] == "batch.ended"
    assert payload["batch"]["completed"] == 3 and payload["batch"]["ended"] is True


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["content-length"]))
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Receiver.received
    server.shutdown()
    server.server_close()


def test_a_url_gets_the_json_posted_with_a_standard_webhooks_signature(
    make_service, make_settings, emulator, clock, receiver
):
    url, received = receiver
    service = make_service(make_settings(**{"notify.secret": SECRET}))
    job = ended_job(service, clock)
    service.notify.attach("job", job.id, url)
    assert service.notify.run_due(clock.now()) == 1
    [(headers, body)] = received
    headers = {k.lower(): v for k, v in headers.items()}
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    assert int(headers["webhook-timestamp"]) == int(clock.now().timestamp())
    assert json.loads(body)["job"]["id"] == job.id
    assert service.notify.for_subject("job", job.id).state == "sent"


def test_a_url_without_a_secret_is_refused_up_front(service):
    from jobs.errors import ConfigError

    with pytest.raises(ConfigError, match="notify.secret"):
        service.notify.check_target("https://hooks.example/x")
