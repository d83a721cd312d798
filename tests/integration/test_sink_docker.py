"""Docker's real `fluentd` log driver sending to the sink on 127.0.0.1 (host networking)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from pipeline_tests._container.line import PREFIX_LEN
from pipeline_tests._sink import Sink, SinkConfig

pytestmark = pytest.mark.docker

RUN = "d0c4e400"
N = 500
SIZE = 120
LABEL = {"pipeline-tests.helper": "1"}


def _client():  # type: ignore[no-untyped-def]
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # no daemon, no permission: skip, do not fail
        pytest.skip(f"no Docker engine answers: {exc}")
    return client


def _image(client) -> str:  # type: ignore[no-untyped-def]
    wanted = os.environ.get("PT_FIXTURE_IMAGE")
    if wanted:
        return wanted
    for image in client.images.list():
        for tag in image.tags:
            try:
                client.containers.run(tag, ["sh", "-c", "true"], remove=True, labels=LABEL,
                                      network_mode="host")
            except Exception:
                continue
            return tag
    pytest.skip("no local image with `sh` (set PT_FIXTURE_IMAGE or build the fixture image)")


@pytest.fixture(scope="module")
def docker_env() -> Iterator[tuple[object, str]]:
    # Each test removes its own container; other engineers' helpers share the label.
    client = _client()
    yield client, _image(client)


def _script(emit_ns: int) -> str:
    padding = "x" * (SIZE - PREFIX_LEN)
    # printf and [ are shell builtins: works with any image that has sh.
    return (f"i=0; while [ $i -lt {N} ]; do printf 'pt:{RUN}:0000:%012d:{emit_ns:019d}:"
            f"{padding}\\n' $i; i=$((i+1)); done")


@pytest.mark.parametrize("options", [
    {"fluentd-async": "false"},
    {"fluentd-async": "true"},
    {"fluentd-request-ack": "true"},
], ids=["sync", "async", "request-ack"])
def test_docker_fluentd_driver_delivers_every_line(docker_env, options: dict) -> None:
    client, image = docker_env
    with Sink.start(SinkConfig(run_id=RUN)) as sink:
        config = {"type": "fluentd", "config": {
            "fluentd-address": f"tcp://127.0.0.1:{sink.port}", "tag": "app", **options}}
        container = client.containers.run(  # type: ignore[attr-defined]
            image, ["sh", "-c", _script(time.time_ns())], detach=True, network_mode="host",
            labels=LABEL, log_config=config)
        try:
            assert container.wait(timeout=120)["StatusCode"] == 0
        finally:
            container.remove(force=True)
        deadline = time.monotonic() + 30
        while sink.live_records() < N and time.monotonic() < deadline:
            time.sleep(0.05)
        ledger, stats = sink.stop()
    assert (ledger.distinct, ledger.unparsable, ledger.foreign) == (N, 0, 0)
    assert stats.malformed == 0
    if "fluentd-request-ack" in options:
        assert stats.acks == stats.frames
