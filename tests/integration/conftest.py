"""Integration tests run on the real Docker engine with the real fixture image."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from pipeline_tests._docker import compose, engine, images
from pipeline_tests._errors import SetupError
from pipeline_tests._results.trial_result import TrialResult
from pipeline_tests._scenario.scenario import Scenario
from pipeline_tests._trial import TrialSpec, run_trial


@pytest.fixture(scope="session")
def client() -> Iterator[docker.DockerClient]:
    try:
        found = engine.connect()
    except SetupError as err:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the integration tests on a real engine: {err}")
        pytest.skip(f"no Docker engine: {err}")
    yield found
    found.close()


@pytest.fixture(scope="session")
def image(client: docker.DockerClient) -> str:
    return images.fixture_image(client, build=True)


def assert_identities(result: TrialResult) -> None:
    """What every trial must satisfy, whatever it lost."""
    assert result.emitted > 0
    # Received ids are a subset of emitted ids, counted by id, not by total.
    assert result.hops["sink"] == result.received_distinct <= result.emitted
    assert result.lost == result.emitted - result.received_distinct
    assert sum(last - first + 1 for _, first, last in result.lost_ranges) == result.lost
    assert result.lost_before_stop + result.lost_after_stop == result.lost
    assert result.duplicates == result.received_total - result.received_distinct
    assert (result.foreign, result.unparsable, result.malformed_frames) == (0, 0, 0)


# scripts/engine-docker26.sh (./setup.sh --with-docker26)
SOCKET = "/run/pt-docker26/docker.sock"


@pytest.fixture(scope="session")
def docker26() -> Iterator[docker.DockerClient]:
    """The docker26 engine: Docker 26.1 in a container sharing nothing but its API socket."""
    found = docker.DockerClient(base_url=f"unix://{SOCKET}", timeout=600)
    try:
        found.ping()
    except docker.errors.DockerException as err:
        pytest.skip(f"the docker26 engine does not answer on {SOCKET} ({err}); start it with "
                    "`./setup.sh --with-docker26` (or scripts/engine-docker26.sh start)")
    yield found
    found.close()


TrialRunner = Callable[[str, Scenario], TrialResult]


@pytest.fixture
def run_one(client: docker.DockerClient, image: str, tmp_path: Path) -> TrialRunner:
    """Runs one real trial of (topology, scenario), checks the identities and that nothing of
    the trial's Compose project survives it."""
    def runner(topology: str, scenario: Scenario) -> TrialResult:
        project = f"pt-test-{os.getpid()}-{tmp_path.name[-20:]}".lower()
        spec = TrialSpec(scenario, topology, 1, project, tmp_path / "trial", image)
        result = run_trial(spec, client, topology, lambda event: None)
        assert compose.leftovers(client, spec.project) == []
        assert_identities(result)
        return result
    return runner
