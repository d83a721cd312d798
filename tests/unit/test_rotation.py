"""Log rotation and a slow destination as scenario keys and matrix axes; where a rotation's
boundaries come from (recorded, or derived from json-file's sizes); the verdict's "lost at
rotation". The app's and the builtin tail's rotation run in test_app.py and test_router.py."""

from __future__ import annotations

import dataclasses

import pytest
from test_report import BASE

from pipeline_tests._errors import InputError
from pipeline_tests._results import rotation
from pipeline_tests._results.verdict import verdict
from pipeline_tests._routers.kind import RouterPorts
from pipeline_tests._scenario.matrix import cells_of
from pipeline_tests._scenario.model import size_bytes
from pipeline_tests._scenario.scenario import Scenario, build
from pipeline_tests._trial.compose_env import variables, variant_files


def _build(data: dict) -> Scenario:
    return build(data, lambda *keys: "scenario.yaml:" + ".".join(keys))


@pytest.mark.parametrize(("text", "size"), [("10m", 10 << 20), ("512k", 512 << 10),
                                            ("10Mi", 10 << 20), ("1.5g", 3 << 29),
                                            ("2048", 2048), ("10 MB", 10 << 20), ("ten", None),
                                            ("-1m", None)])
def test_sizes_are_read_as_docker_reads_max_size(text: str, size: int | None) -> None:
    assert size_bytes(text) == size


def test_rotation_keys_and_their_variables() -> None:
    s = _build({"topologies": ["tail", "file"], "rotation": {"size": "1m", "max-files": 3},
                "router": {"rotate_wait": 0}})
    assert (s.rotation.size, s.rotation.max_files, s.router.rotate_wait) == ("1m", 3, 0.0)
    env = variables(s, image="i", line_run_id="0badcafe", ports=RouterPorts(1, 2, 3))
    assert (env["PT_ROTATE_SIZE"], env["PT_ROTATE_FILES"], env["PT_ROTATE_WAIT"]) == (
        "1048576", "3", "0.0")
    # json-file's options only where the app logs through it; `file` reads the variables.
    assert [p.name for p in variant_files(s, "tail")] == ["json-file-rotation.yaml"]
    assert variant_files(s, "file") == () and variant_files(Scenario(), "tail") == ()
    assert _build({"rotation": {"size": 4096}}).rotation.size == "4096"  # bytes


@pytest.mark.parametrize(("data", "message"), [
    ({"rotation": {"size": "huge"}}, "scenario.yaml:rotation.size: 'rotation.size' must be a "
     "size of at least 1k such as 10m or 512k (binary units, as Docker's max-size), or null: "
     "no rotation, got 'huge'."),
    ({"rotation": {"size": "1m", "max_files": 1}}, "scenario.yaml:rotation.max_files: "
     "'rotation.max_files' must be a whole number >= 2 (the file being written and at least "
     "one rotated file, as kubelet's containerLogMaxFiles), got 1."),
    ({"router": {"rotate_wait": -1}}, "scenario.yaml:router.rotate_wait: 'rotate_wait' must be "
     ">= 0 seconds, got -1.0."),
    ({"sink": {"refuse_every": 1}}, "scenario.yaml:sink.refuse_every: 'sink.refuse_every' must "
     "be a whole number >= 2 (every Nth frame is refused; 1 would refuse them all), or null: "
     "never, got 1."),
    ({"sink": {"max_records_per_s": 0}}, "scenario.yaml:sink.max_records_per_s: "
     "'sink.max_records_per_s' must be a whole number >= 1 (or null: no cap), got 0."),
    ({"sink": {"latency": -0.5}}, "scenario.yaml:sink: 'sink.ack_delay', 'sink.read_delay' and "
     "'sink.latency' must be >= 0 seconds."),
])
def test_bad_values_are_one_clear_paragraph(data: dict, message: str) -> None:
    with pytest.raises(InputError) as err:
        _build(data)
    assert str(err.value) == message


def test_a_slow_destination_is_matrix_axes() -> None:
    s = _build({"topologies": ["direct-tcp"], "matrix": {
        "sink.max_records_per_s": [1000, 5000], "sink.latency": [0, 0.05],
        "rotation.size": ["1m", "10m"]}})
    cells = cells_of(s)
    assert len(cells) == 8
    assert [(c.scenario.sink.max_records_per_s, c.scenario.sink.latency, c.scenario.rotation.size)
            for c in cells[:3]] == [(1000, 0.0, "1m"), (1000, 0.0, "10m"), (1000, 0.05, "1m")]
    assert cells[0].label == ("direct-tcp/builtin/ecs (sink.max_records_per_s=1000, "
                              "sink.latency=0, rotation.size=1m)")
    env = variables(cells[-1].scenario, image="i", line_run_id="0badcafe",
                    ports=RouterPorts(1, 2, 3))
    assert (env["PT_SINK_MAX_RECORDS_PER_S"], env["PT_SINK_LATENCY"],
            env["PT_SINK_MAX_BYTES_PER_S"], env["PT_SINK_REFUSE_EVERY"]) == (
        "5000", "0.05", "", "")


def test_json_file_boundaries_are_derived_from_the_sizes() -> None:
    # 400-byte lines: 471 bytes a line in json-file (470.89 on average), 1 MiB files.
    derived = rotation.json_file(400, 1 << 20, (10_000,))
    assert derived["seqs"] == [[2227, 4454, 6681, 8908]] and derived["files"] == 5
    assert derived["within"] == 1  # max-size falls well inside a line: 2227 lines every file
    several = rotation.json_file(400, 1 << 20, (5000, 5000))
    assert several["seqs"] == [] and several["note"].startswith("boundaries not known")


def test_lost_ranges_at_a_boundary_are_found_and_named() -> None:
    recorded = rotation.recorded(((250, 500, 750),))
    assert recorded == {"source": "recorded by the app", "within": 0, "files": 4,
                        "seqs": [[250, 500, 750]], "note": ""}
    # One range begins at a new file, one ends just before one, one is elsewhere.
    lost = ((0, 250, 499), (0, 600, 749), (0, 900, 910))
    assert rotation.at_rotation(lost, recorded) == [(0, [250, 500]), (0, [750])]
    assert rotation.at_rotation(((0, 252, 260),), {**recorded, "within": 2}) == [(0, [250])]
    assert rotation.at_rotation(((0, 252, 260),), recorded) == []


def test_the_verdict_says_lost_at_rotation_with_the_boundaries() -> None:
    trial = dataclasses.replace(
        BASE, topology="file", emitted=1000, received_distinct=750, received_total=750,
        lost=250, lost_ranges=((0, 250, 499),), lost_before_stop=250,
        hops={"app": 1000, "router_in": 750, "router_out": 750, "sink": 750},
        emitted_by_stream=(1000,), stop_seq=(1000,),
        rotations=rotation.recorded(((250, 500, 750),)))
    assert verdict([trial]) == (
        "file/builtin/ecs lost 25% (250 lines) in 1/1 trials, all between the app and the "
        "router (written to the file, not read by the router), all emitted before SIGTERM, lost "
        "at rotation: 1 of 1 lost ranges begin or end where a new log file began (the files "
        "beginning at seq 250, 500).")
    derived = dataclasses.replace(trial, rotations={**trial.rotations, "within": 3})
    assert "begin or end about where a new log file began (the files beginning at seq 250, " \
        "500)" in verdict([derived])
