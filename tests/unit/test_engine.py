from __future__ import annotations

import pytest

from pipeline_tests._docker.log_opts import (
    FLUENTD_LOG_OPTS,
    check_log_opts,
    driver_options_supported,
    parse_version,
)
from pipeline_tests._errors import SetupError

# What compose/firelens.yaml sets, as ECS FireLens does.
FIRELENS_OPTS = {
    "fluentd-address": "unix:///tmp/pt-sock/fluent.sock",
    "fluentd-async": "true",
    "fluentd-buffer-limit": "1048576",
    "fluentd-request-ack": "false",
    "fluentd-sub-second-precision": "true",
    "tag": "app-firelens-0badcafe",
}


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("20.10.24+dfsg1", (20, 10, 24)),
        ("28.2.2", (28, 2, 2)),
        ("17.03.0-ce", (17, 3, 0)),
        ("1.13.1", (1, 13, 1)),
        ("v2.26.1", (2, 26, 1)),
        ("2.26.1-4", (2, 26, 1)),
        ("23.0", (23, 0, 0)),
        ("dev", None),
        ("", None),
    ],
)
def test_parse_version(text: str, parsed: tuple[int, int, int] | None) -> None:
    assert parse_version(text) == parsed


def test_versions_compare_across_the_calendar_renumbering() -> None:
    assert parse_version("1.13.1") < parse_version("17.03.0-ce") < parse_version("20.10.24+dfsg1")
    assert parse_version("20.10.9") < parse_version("20.10.24")


def test_firelens_options_pass_on_debian_bookworm_docker() -> None:
    check_log_opts(FIRELENS_OPTS, "20.10.24+dfsg1")


def test_option_newer_than_the_daemon_is_refused_with_both_versions() -> None:
    with pytest.raises(SetupError) as err:
        check_log_opts(FIRELENS_OPTS, "19.03.15")
    assert str(err.value) == (
        "The `fluentd` log-driver option `fluentd-async` needs Docker Engine 20.10.0 or newer, "
        "but this daemon runs 19.03.15. Upgrade Docker, or drop the option from the scenario."
    )


def test_removed_option_is_refused() -> None:
    with pytest.raises(SetupError) as err:
        check_log_opts({"fluentd-async-connect": "true"}, "28.0.0")
    assert str(err.value) == (
        "The `fluentd` log-driver option `fluentd-async-connect` was removed in Docker Engine "
        "28.0.0, and this daemon runs 28.0.0. Drop it from the scenario (`fluentd-async` "
        "replaces it)."
    )
    check_log_opts({"fluentd-async-connect": "true"}, "27.5.1")


def test_unknown_option_is_refused() -> None:
    with pytest.raises(SetupError) as err:
        check_log_opts({"fluentd-asyncc": "true"}, "20.10.24")
    assert str(err.value).startswith(
        "Unknown `fluentd` log-driver option `fluentd-asyncc`. Docker's fluentd driver knows: "
        "env, env-regex, fluentd-address,"
    )


def test_generic_ring_buffer_options_arrived_in_17_04() -> None:
    opts = {"mode": "non-blocking", "max-buffer-size": "1m"}
    check_log_opts(opts, "17.04.0-ce")
    with pytest.raises(SetupError) as err:
        check_log_opts(opts, "17.03.2-ce")
    assert "`max-buffer-size` needs Docker Engine 17.04.0" in str(err.value)


def test_unparseable_engine_version_is_not_second_guessed() -> None:
    check_log_opts(FIRELENS_OPTS | {"fluentd-write-timeout": "5s"}, "dev")


def test_driver_options_supported_on_20_10() -> None:
    assert driver_options_supported("20.10.24+dfsg1") == [
        "fluentd-address",
        "tag",
        "labels",
        "env",
        "fluentd-buffer-limit",
        "fluentd-retry-wait",
        "fluentd-max-retries",
        "fluentd-async-connect",
        "mode",
        "max-buffer-size",
        "env-regex",
        "fluentd-sub-second-precision",
        "labels-regex",
        "fluentd-async",
        "fluentd-request-ack",
    ]


def test_driver_options_supported_on_28_2_drops_async_connect() -> None:
    supported = driver_options_supported("28.2.2")
    assert "fluentd-async-connect" not in supported
    assert supported[-3:] == [
        "fluentd-request-ack",
        "fluentd-async-reconnect-interval",
        "fluentd-write-timeout",
    ]


def test_dev_engine_supports_every_current_option() -> None:
    assert driver_options_supported("dev") == [
        opt.name for opt in FLUENTD_LOG_OPTS if opt.removed_in is None
    ]
