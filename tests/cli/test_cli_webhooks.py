"""`gjobs webhooks listen`, `gjobs worker --webhook-port`, and the webhooks line of `doctor`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest


def test_listen_needs_a_public_url(cli, store_rows):
    message = cli.fails("webhooks", "listen", "--port", "0", code=2)
    assert "webhooks.public_url is not set" in message
    assert store_rows() == {}


def test_worker_webhook_port_needs_a_public_url(cli):
    assert "needs webhooks.public_url" in cli.fails("worker", "--webhook-port", "8799", code=2)


def test_doctor_says_webhooks_are_off_and_then_how_they_fare(cli, monkeypatch):
    checks = {c["name"]: c for c in cli.json("doctor")}
    assert checks["webhooks"]["level"] == "info" and "off" in checks["webhooks"]["detail"]
    monkeypatch.setenv("JOBS_WEBHOOK_URL", "https://jobs.example.com")
    checks = {c["name"]: c for c in cli.json("doctor")}
    detail = checks["webhooks"]["detail"]
    assert "https://jobs.example.com/webhooks/interactions" in detail and "no deliveries" in detail


def test_config_hides_the_webhook_secret(cli, monkeypatch):
    monkeypatch.setenv("JOBS_WEBHOOK_SECRET", "whsec_c2VjcmV0c2VjcmV0c2VjcmV0")
    out = cli("config").stdout
    assert "whsec_" not in out and "(set, hidden)" in out


@pytest.mark.slow
def test_worker_receives_webhooks_on_its_port(tmp_path, emulator, clock):
    """A real `gjobs worker --webhook-port` process answers at the fixed path."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "GEMINI_API_KEY": "test-key",
        "GOOGLE_GEMINI_BASE_URL": emulator.base_url,
        "JOBS_WEBHOOK_URL": f"http://127.0.0.1:{port}",
    }
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "jobs"), "worker", "--webhook-port", str(port), "-q"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                reply = httpx2.post(f"http://127.0.0.1:{port}/webhooks/interactions", content=b"{}")
                break
            except httpx2.ConnectError:
                assert worker.poll() is None, worker.communicate()
                assert time.monotonic() < deadline, "the worker never listened"
                time.sleep(0.1)
        assert reply.status_code == 401  # unsigned: refused
        assert reply.json() == {"outcome": "refused"}
    finally:
        worker.send_signal(signal.SIGINT)
        worker.communicate(timeout=30)
