"""Integration tests run on the real Docker engine with the real fixture image."""

import os
from collections.abc import Iterator

import docker
import pytest

from pipeline_tests import engine, images
from pipeline_tests.errors import UserError


@pytest.fixture(scope="session")
def client() -> Iterator[docker.DockerClient]:
    try:
        found = engine.connect()
    except UserError as err:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the integration tests on a real engine: {err}")
        pytest.skip(f"no Docker engine: {err}")
    yield found
    found.close()


@pytest.fixture(scope="session")
def image(client: docker.DockerClient) -> str:
    return images.fixture_image(client, build=True)
