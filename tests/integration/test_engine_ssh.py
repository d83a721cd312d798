"""An ssh:// engine: a real sshd on 127.0.0.1 (started here, with its own keys) in front of the
local engine. The SDK and `docker compose` both reach it through the `ssh` command; a wrapper
first on PATH points that command at this test's keys and known_hosts, so the user's own ssh
setup is neither read nor changed."""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from pipeline_tests._docker import compose

SSHD = Path("/usr/sbin/sshd")
CLI = [sys.executable, "-c", "from pipeline_tests._cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _keys(home: Path) -> None:
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / name)],
                       check=True)
    (home / "authorized_keys").write_text((home / "client.pub").read_text())
    (home / "authorized_keys").chmod(0o600)


@pytest.fixture
def ssh_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """(engine URL, environment whose `ssh` reaches it)."""
    if not SSHD.exists():
        pytest.skip("no sshd here; `./setup.sh --with-docker26` installs openssh-server "
                    "(without starting its service)")
    home, port = tmp_path_factory.mktemp("ssh"), _free_port()
    _keys(home)
    (home / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {home}/host\nPidFile {home}/sshd.pid\n"
        f"AuthorizedKeysFile {home}/authorized_keys\nPasswordAuthentication no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n")
    (home / "ssh_config").write_text(
        f"Host *\n  IdentityFile {home}/client\n  IdentitiesOnly yes\n  BatchMode yes\n"
        f"  UserKnownHostsFile {home}/known_hosts\n  StrictHostKeyChecking accept-new\n")
    bin_dir = home / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {home}/ssh_config "$@"\n')
    (bin_dir / "ssh").chmod(0o755)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    daemon = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(home / "sshd_config")],
                              stderr=subprocess.PIPE, text=True)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "COLUMNS": "250"}
    url = f"ssh://{getpass.getuser()}@127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while subprocess.run(["docker", "-H", url, "version"], env=env, capture_output=True,
                             check=False).returncode != 0:
            assert time.monotonic() < deadline, "sshd never let docker through"
            assert daemon.poll() is None, daemon.stderr.read() if daemon.stderr else ""
            time.sleep(0.3)
        yield url, env
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def test_a_trial_on_an_ssh_engine(ssh_engine: tuple[str, dict[str, str]],
                                  client: docker.DockerClient, tmp_path: Path) -> None:
    url, env = ssh_engine
    done = subprocess.run([*CLI, "run", "--engine", url, "--topology", "direct-tcp",
                           "--trials", "1", "--stop-after", "2", "--rate", "2000",
                           "--out", str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = tmp_path.iterdir()
    (trial,) = json.loads((run_dir / "results.json").read_text())["trials"]
    assert trial["engine"]["name"] == url
    assert (trial["lost"], trial["received_distinct"]) == (0, trial["emitted"])
    # 2,000 lines/s for 2 s, and while `up` and the stop went over ssh (seconds each)
    assert 3_000 <= trial["emitted"] <= 30_000
    assert compose.leftovers(client, f"pt-{run_dir.name}") == []  # the same engine, behind ssh
