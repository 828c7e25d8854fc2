"""The metrics' guard is read from the environment, and a weak or malformed one stops the start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("METRICS_")}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, config.settings as s; "
            "print(json.dumps([len(s.METRICS_TOKEN), [str(n) for n in s.METRICS_ALLOWED_NETWORKS]]))",
        ],
        cwd=ROOT,
        env={**clean, "DEBUG": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_metrics_are_closed_by_default():
    assert json.loads(_settings({}).stdout) == [0, []]


def test_the_token_comes_from_the_environment_or_a_file_and_the_allow_list_takes_networks(tmp_path):
    token = tmp_path / "token"
    token.write_text("x" * 40 + "\n")
    started = _settings(
        {"METRICS_TOKEN_FILE": str(token), "METRICS_ALLOWED_IPS": "10.0.0.5, 192.0.2.0/24,::1"}
    )
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout) == [40, ["10.0.0.5/32", "192.0.2.0/24", "::1/128"]]


def test_a_short_token_or_a_malformed_address_stops_the_start():
    short = _settings({"METRICS_TOKEN": "secret"})
    assert short.returncode != 0 and "METRICS_TOKEN is too short" in short.stderr
    malformed = _settings({"METRICS_ALLOWED_IPS": "10.0.0.300"})
    assert malformed.returncode != 0 and "METRICS_ALLOWED_IPS" in malformed.stderr
