"""`pipeline-tests doctor` and `build-image`: what this machine has, and the fixture image."""

from __future__ import annotations

import time
from collections.abc import Callable

from pipeline_tests import _routers as routers
from pipeline_tests._docker import engine, images


def doctor() -> list[str]:
    with engine.api_errors():
        client = engine.connect()
        info = engine.engine_info(client)
        lines = [f"docker engine {info.version} (API {info.api_version})",
                 f"docker compose {engine.check_compose()}",
                 "fluentd log-driver options: "
                 + ", ".join(engine.driver_options_supported(info.version)),
                 f"fixture image: {images.fixture_image(client, build=False)}"]
        for kind, image, found in routers.describe_kinds(client):
            lines.append(f"router {kind:<19} {image:<60} "
                         f"{found or f'absent: docker pull {image}'}")
    return lines


def build_image(progress: Callable[[str], None]) -> str:
    started = time.monotonic()
    with engine.api_errors():
        tag = images.fixture_image(engine.connect(), build=True, progress=progress)
    return f"{tag} ({time.monotonic() - started:.1f} s)"
