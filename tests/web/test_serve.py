"""`pixrescue serve` as a command: it prints its address, answers, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[2]


def test_serve_answers_then_stops_on_ctrl_c_leaving_no_files(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "pixrescue", "serve", "--port", str(port), "--queue", "3"],
                              env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr.readline().strip() == f"pixrescue: serving http://127.0.0.1:{port}/ (Ctrl-C stops)"
        end = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/limits") as response:
                    limits = json.load(response)
                break
            except OSError:
                assert time.time() < end and server.poll() is None, "the server did not answer"
                time.sleep(0.1)
        assert limits["capacity"] == limits["workers"] + 3
        assert [p.name[:14] for p in tmp_path.iterdir()] == ["pixrescue-web-"]
        server.send_signal(signal.SIGINT)
        assert server.wait(30) == 0
        assert list(tmp_path.iterdir()) == []
    finally:
        if server.poll() is None:
            server.kill()
        server.stderr.close()
