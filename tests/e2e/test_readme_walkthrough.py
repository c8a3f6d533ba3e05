"""The README's first-push walkthrough, run as written: its commands are read from the README
itself (the ```sh blocks marked <!-- walkthrough -->), so the two cannot drift. Berth is
started as `make serve` starts it, in a directory of its own; the blocks run in order in one
shell (exports carry over, as when pasted into one terminal), with only the port changed."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.daemon import Daemon
from tests.support.ports import free_port, wait_until

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
MARK = "<!-- walkthrough -->"


def walkthrough(text: str) -> list[str]:
    """The marked shell blocks, in order."""
    blocks = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() != MARK:
            continue
        assert lines[i + 1].strip() == "```sh", f"README line {i + 2}: a ```sh block must follow"
        end = lines.index("```", i + 2)
        blocks.append("\n".join(lines[i + 2:end]))
    return blocks


def test_the_readme_marks_its_walkthrough():
    blocks = walkthrough(README.read_text())
    assert len(blocks) >= 3
    assert "docker push" in "\n".join(blocks)


def test_the_walkthrough_works_as_written(tmp_path, dockerd):
    venv = Path(sys.executable).parent.parent
    (tmp_path / ".venv").symlink_to(venv)
    port = free_port()
    server = Daemon([".venv/bin/berth", "serve", "--port", str(port)], tmp_path / "serve.log",
                    cwd=tmp_path).start()
    try:
        # The first start's banner comes on stdout just after the "listening on" log line:
        # wait for the banner itself, not only the line before it.
        assert wait_until(lambda: "--password-stdin" in server.log_text()
                          or not server.alive(), 120), server.log_text()
        assert "listening on" in server.log_text()
        banner = server.log_text()
        assert f"--password-stdin 127.0.0.1:{port}" in banner, banner
        script = "\n".join(walkthrough(README.read_text())).replace("127.0.0.1:5000",
                                                                     f"127.0.0.1:{port}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(dockerd.env, PATH=f"{venv / 'bin'}:{os.environ['PATH']}")
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{server.log_text()}"
        team_b = json.loads(re.findall(r"\[[^\[\]]*\]\s*$", done.stdout)[-1])
        admin_account = re.search(r"administrator account: (\d{12})", banner).group(1)
        assert len(team_b) == 1 and team_b[0] != admin_account  # its own registry
        described = json.loads(done.stdout[done.stdout.index('{\n    "imageDetails"'):]
                               .split("\n}\n", 1)[0] + "\n}")
        assert described["imageDetails"][0]["imageTags"] == ["1"]
        assert described["imageDetails"][0]["registryId"] == admin_account
    finally:
        server.stop()
