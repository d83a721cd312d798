"""Router kinds: the exact config each renders, what prepare writes, bad input, counters."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

from pipeline_tests import _routers as routers
from pipeline_tests._errors import ImageMissing, InputError
from pipeline_tests._resources import data_dir
from pipeline_tests._routers import fluent_bit_conf as fluent_bit
from pipeline_tests._routers import fluentd_conf as fluentd
from pipeline_tests._scenario.model import Router
from pipeline_tests._scenario.scenario import Scenario

PORTS = routers.RouterPorts(router=24224, sink=24225, metrics=2020)
ARN = "arn:aws:ecs:us-east-1:000000000000:task/pipeline-tests/0123456789abcdef0123456789abcdef"

FLUENT_BIT_HEAD = f"""\
# Rendered by pipeline-tests for one trial; edit the scenario, not this file.
# Laid out like the config ECS FireLens generates for Fluent Bit.

[SERVICE]
    Flush 1
    Grace 5
    Log_Level info

[INPUT]
    Name forward
    Alias pt_unix
    unix_path /var/run/fluent.sock
    storage.type memory

[INPUT]
    Name forward
    Alias pt_tcp
    Listen 127.0.0.1
    Port 24224
    storage.type memory

[FILTER]
    Name record_modifier
    Alias pt_ecs
    Match *
    Record ecs_cluster pipeline-tests
    Record ecs_task_arn {ARN}
    Record ecs_task_definition pipeline-tests:1
"""
FLUENT_BIT_TAIL = """
[SERVICE]
    HTTP_Server On
    HTTP_Listen 127.0.0.1
    HTTP_Port 2020

[OUTPUT]
    Name forward
    Alias pt_sink
    Match app*
    Host 127.0.0.1
    Port 24225
    Require_ack_response true
"""
FLUENTD_HEAD = f"""\
# Rendered by pipeline-tests for one trial; edit the scenario, not this file.
# Laid out like the config ECS FireLens generates for Fluentd.

<source>
    @type unix
    @id pt_unix
    path /var/run/fluent.sock
</source>

<source>
    @type forward
    @id pt_tcp
    bind 127.0.0.1
    port 24224
</source>

<source>
    @type monitor_agent
    @id pt_monitor
    bind 127.0.0.1
    port 2020
</source>

<filter **>
    @type record_transformer
    @id pt_ecs
    <record>
        ecs_cluster pipeline-tests
        ecs_task_arn {ARN}
        ecs_task_definition pipeline-tests:1
    </record>
</filter>
"""
FLUENTD_MEMORY_MATCH = """
<match app**>
    @type forward
    @id pt_sink
    require_ack_response true
    <server>
        host 127.0.0.1
        port 24225
    </server>
    <buffer>
        @type memory
        flush_mode interval
        flush_interval 1s
        flush_at_shutdown true
    </buffer>
</match>
"""
USER_FLUENT_BIT = """\
[SERVICE]
    Grace 30
@INCLUDE outputs.conf
"""
USER_FLUENTD = """\
@include extra/*.conf
<match other.**>
  @type null
  <buffer>
    @type file
    path /tmp/buf
  </buffer>
</match>
"""


def conf(tmp_path: Path, router: Router) -> str:
    routers.prepare(router, tmp_path / "conf", PORTS)
    name = fluentd.MAIN_FILE if router.kind == "fluentd" else fluent_bit.MAIN_FILE
    return (tmp_path / "conf" / name).read_text()


@pytest.mark.parametrize("kind", ["fluent-bit", "aws-for-fluent-bit"])
def test_fluent_bit_firelens_preset_is_the_firelens_config_alone(tmp_path: Path, kind: str) -> None:
    assert conf(tmp_path, Router(kind=kind)) == FLUENT_BIT_HEAD + FLUENT_BIT_TAIL


def test_fluent_bit_minimize_log_loss_includes_the_shipped_preset(tmp_path: Path) -> None:
    text = conf(tmp_path, Router(kind="fluent-bit", preset="minimize-log-loss"))
    assert text == (FLUENT_BIT_HEAD + "\n@INCLUDE /pt/user/minimize-log-loss.conf\n"
                    + FLUENT_BIT_TAIL)
    preset = routers.presets_dir("fluent-bit") / "minimize-log-loss.conf"
    assert "[SERVICE]\n    Flush 1\n    Grace 30\n" in preset.read_text()


def test_aws_minimize_log_loss_includes_the_images_own_copy(tmp_path: Path) -> None:
    text = conf(tmp_path, Router(kind="aws-for-fluent-bit", preset="minimize-log-loss"))
    assert "\n@INCLUDE /fluent-bit/configs/minimize-log-loss.conf\n" in text


def test_fluent_bit_knobs_render_from_the_scenario(tmp_path: Path) -> None:
    router = Router(kind="fluent-bit", flush_interval=0.5, grace=2.5,
                    storage_type="filesystem", require_ack=False)
    text = conf(tmp_path, router)
    assert text.startswith(FLUENT_BIT_HEAD.split("[SERVICE]")[0] + "[SERVICE]\n"
                           "    Flush 0.5\n    Grace 3\n    Log_Level info\n"
                           "    storage.path /pt/storage/flb\n")
    assert text.count("    storage.type filesystem\n") == 2
    assert text.endswith("    Require_ack_response false\n")


def test_fluent_bit_user_file_is_copied_not_edited(tmp_path: Path) -> None:
    user_dir = tmp_path / "mine"
    user_dir.mkdir()
    (user_dir / "fluent-bit.conf").write_text(USER_FLUENT_BIT)
    (user_dir / "outputs.conf").write_text("[OUTPUT]\n    Name null\n    Match *\n")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in user_dir.iterdir()}
    env = routers.prepare(Router(kind="fluent-bit", config=str(user_dir / "fluent-bit.conf")),
                          tmp_path / "conf", PORTS)
    text = (tmp_path / "conf" / fluent_bit.MAIN_FILE).read_text()
    assert text == FLUENT_BIT_HEAD + "\n@INCLUDE /pt/user/fluent-bit.conf\n" + FLUENT_BIT_TAIL
    assert env == {"PT_ROUTER_IMAGE": "fluent/fluent-bit:5.1.1"}
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in user_dir.iterdir()} == before
    # The trial keeps a copy, which goes into the router's volume at /pt/user.
    copy = tmp_path / "user"
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == {
        name: data for name, (data, _) in before.items()}
    # Its relative @INCLUDE resolves beside the main file, where a link points into /pt/user.
    links = {p.name: os.readlink(p) for p in (tmp_path / "conf").iterdir() if p.is_symlink()}
    assert links == {"fluent-bit.conf": "/pt/user/fluent-bit.conf",
                     "outputs.conf": "/pt/user/outputs.conf",
                     "parsers.conf": "/fluent-bit/etc/parsers.conf"}


def test_fluentd_firelens_preset(tmp_path: Path) -> None:
    assert conf(tmp_path, Router(kind="fluentd")) == FLUENTD_HEAD + FLUENTD_MEMORY_MATCH


def test_fluentd_user_file_with_its_own_include_and_buffer(tmp_path: Path) -> None:
    user = tmp_path / "mine" / "fluent.conf"
    user.parent.mkdir()
    user.write_text(USER_FLUENTD)
    router = Router(kind="fluentd", config=str(user), buffer_type="file", flush_interval=5.0,
                    flush_at_shutdown=False, require_ack=False)
    text = conf(tmp_path, router)
    assert text == FLUENTD_HEAD + "\n@include /pt/user/fluent.conf\n" + """
<match app**>
    @type forward
    @id pt_sink
    require_ack_response false
    <server>
        host 127.0.0.1
        port 24225
    </server>
    <buffer>
        @type file
        path /pt/storage/buffer
        flush_mode interval
        flush_interval 5s
        flush_at_shutdown false
    </buffer>
</match>
"""
    assert user.read_text() == USER_FLUENTD
    assert [p.name for p in (tmp_path / "conf").iterdir()] == ["fluent.conf"]


def test_file_topology_adds_a_tail_input_after_the_forward_inputs(tmp_path: Path) -> None:
    # router.rotate_wait: Fluent Bit takes whole seconds (rounded up), Fluentd any.
    routers.prepare(Router(kind="fluent-bit", rotate_wait=2.5), tmp_path / "fb", PORTS, "file")
    tail = """
[INPUT]
    Name tail
    Alias pt_tail
    Tag app
    Path /pt/logs/app.log
    Read_from_Head On
    Refresh_Interval 1
    Rotate_Wait 3
    Buffer_Chunk_Size 64k
    Buffer_Max_Size 64k
    storage.type memory
"""
    head, rest = FLUENT_BIT_HEAD.split("\n[FILTER]", 1)
    assert (tmp_path / "fb" / fluent_bit.MAIN_FILE).read_text() == \
        head + tail + "\n[FILTER]" + rest + FLUENT_BIT_TAIL
    routers.prepare(Router(kind="fluentd", rotate_wait=2.5), tmp_path / "fd", PORTS, "file")
    source = """
<source>
    @type tail
    @id pt_tail
    path /pt/logs/app.log
    pos_file /pt/storage/app.log.pos
    read_from_head true
    refresh_interval 1
    rotate_wait 2.5s
    tag app
    <parse>
        @type none
    </parse>
</source>
"""
    head, rest = FLUENTD_HEAD.split("\n<filter **>", 1)
    assert (tmp_path / "fd" / fluentd.MAIN_FILE).read_text() == \
        head + source + "\n<filter **>" + rest + FLUENTD_MEMORY_MATCH


def test_tail_topology_reads_dockers_json_file_logs(tmp_path: Path) -> None:
    routers.prepare(Router(kind="fluent-bit"), tmp_path / "fb", PORTS, "tail")
    text = (tmp_path / "fb" / fluent_bit.MAIN_FILE).read_text()
    assert ("    Path /pt/containers/*-json.log\n    multiline.parser docker\n"
            "    Read_from_Head On\n") in text
    routers.prepare(Router(kind="fluentd"), tmp_path / "fd", PORTS, "tail")
    text = (tmp_path / "fd" / fluentd.MAIN_FILE).read_text()
    assert "    path /pt/containers/*-json.log\n" in text
    assert "    <parse>\n        @type json\n    </parse>\n" in text


def test_prepare_returns_the_compose_variables(tmp_path: Path) -> None:
    env = routers.prepare(Router(kind="fluentd", image="my/fluentd:1"), tmp_path / "c", PORTS)
    assert env == {"PT_ROUTER_IMAGE": "my/fluentd:1"}
    shipped = routers.presets_dir("fluentd")
    assert sorted(p.name for p in (tmp_path / "user").iterdir()) == sorted(
        p.name for p in shipped.iterdir() if p.is_file())
    assert routers.prepare(Router(), tmp_path / "b", PORTS) == {}


def test_every_kind_has_a_compose_file_and_a_default_image() -> None:
    compose_dir = data_dir("compose")
    for kind in routers.KINDS:
        assert (compose_dir / f"router-{kind}.yaml").is_file()
        text = (compose_dir / f"router-{kind}.yaml").read_text()
        default = routers.KINDS[kind].default_image
        assert kind == "builtin" or f"${{PT_ROUTER_IMAGE:-{default}}}" in text


@pytest.mark.parametrize("router, words", [
    (Router(kind="fluent-bit", config="/nonexistent/fb.conf"),
     r"config file /nonexistent/fb\.conf \(router\.config\) does not exist"),
    (Router(kind="fluent-bit", config="/etc/hostname", preset="firelens"), "Give one"),
    (Router(kind="fluentd", config="/etc"), r"/etc \(router\.config\) is not a readable file"),
])
def test_a_scenario_refuses_a_config_it_cannot_read(router: Router, words: str) -> None:
    with pytest.raises(InputError, match=words):
        Scenario(router=router).with_overrides()


def test_a_kind_refuses_a_preset_it_does_not_ship() -> None:
    with pytest.raises(InputError, match="Unknown preset 'minimize-log-loss' for router fluentd"):
        routers.check(Router(kind="fluentd", preset="minimize-log-loss"))
    routers.check(Router(kind="fluent-bit", preset="firelens"))


def test_counters_while_the_router_runs_are_its_counts_so_far(tmp_path: Path) -> None:
    state = tmp_path / "router"
    state.mkdir()
    text = ('2026-12-01T19:26:57.1Z fluentbit_uptime{hostname="vm"} = 3\n'
            '2026-12-01T19:26:56.1Z fluentbit_input_records_total{name="pt_tcp"} = 9\n'
            '2026-12-01T19:26:56.1Z fluentbit_input_records_total{name="tail.0"} = 90\n')
    (state / "router-metrics.json").write_text(json.dumps({"answer": text}))
    assert routers.counters(Router(kind="fluent-bit"), state, PORTS, None) == \
        routers.RouterCounters(9, None)
    plugins = {"plugins": [{"plugin_id": "pt_ecs", "plugin_category": "filter",
                            "emit_records": 4}]}
    (state / "router-metrics.json").write_text(json.dumps({"answer": json.dumps(plugins)}))
    assert routers.counters(Router(kind="fluentd"), state, PORTS) == \
        routers.RouterCounters(4, None)
    assert routers.counters(Router(kind="fluentd"), tmp_path / "x", PORTS) == \
        routers.RouterCounters(None, None)


def test_final_counts_come_from_the_log_given_not_a_file_beside_the_state(
        tmp_path: Path) -> None:
    """Each tier's own log is passed in: an aggregator's state directory sits beside the
    sidecar's router.log, which must not be read as the aggregator's."""
    plugins = {"plugins": [{"plugin_id": "pt_ecs", "plugin_category": "filter",
                            "emit_records": 5}]}
    log = "2026-12-01 19:31:01 +0000 [info]: Worker 0 finished with status 0\n"
    state = tmp_path / "aggregator"
    state.mkdir()
    (tmp_path / "router.log").write_text("sidecar's log, not the aggregator's\n")
    (state / "router-metrics.json").write_text(json.dumps({"answer": json.dumps(plugins)}))
    fluentd = Router(kind="fluentd")
    assert routers.counters(fluentd, state, PORTS) == routers.RouterCounters(5, None)
    assert routers.counters(fluentd, state, PORTS, log).resolve(4) == \
        routers.RouterCounters(4, 4)
    assert routers.counters(fluentd, state, PORTS, "").resolve(4).received_unknown == (
        "monitor_agent counts no input records, and its worker never finished with status 0 "
        "(killed?)")


class FakeImages:
    def __init__(self, present: dict[str, Any], pull_error: bool = False) -> None:
        self.present, self.pull_error, self.pulled = present, pull_error, []

    def get(self, name: str) -> Any:
        if name not in self.present:
            raise docker.errors.ImageNotFound(name)
        return self.present[name]

    def pull(self, repo: str, tag: str) -> None:
        self.pulled.append((repo, tag))
        if self.pull_error:
            raise docker.errors.APIError("no route", explanation="registry unreachable")


def test_ensure_image_names_the_pull_command() -> None:
    client: Any = SimpleNamespace(images=FakeImages({}))
    with pytest.raises(ImageMissing, match=r"Run `docker pull fluent/fluent-bit:5\.1\.1`"):
        routers.ensure_image(client, Router(kind="fluent-bit"), pull=False)
    client.images.present["my/fb:2"] = object()
    assert routers.ensure_image(client, Router(kind="fluent-bit", image="my/fb:2"), False) \
        == "my/fb:2"


def test_ensure_image_pulls_when_asked() -> None:
    images = FakeImages({}, pull_error=True)
    client: Any = SimpleNamespace(images=images)
    with pytest.raises(ImageMissing, match="registry unreachable"):
        routers.ensure_image(client, Router(kind="aws-for-fluent-bit"), pull=True)
    assert images.pulled == [("public.ecr.aws/aws-observability/aws-for-fluent-bit", "3.4.14")]


def test_describe_kinds() -> None:
    present = {"fluent/fluent-bit:5.1.1": SimpleNamespace(labels={}),
               "pipeline-tests/fixture:latest": SimpleNamespace(
                   labels={"org.opencontainers.image.version": "abc"})}
    client: Any = SimpleNamespace(images=FakeImages(present))
    assert routers.describe_kinds(client) == [
        ("builtin", "pipeline-tests/fixture:latest", "abc"),
        ("fluent-bit", "fluent/fluent-bit:5.1.1", "5.1.1"),
        ("aws-for-fluent-bit", "public.ecr.aws/aws-observability/aws-for-fluent-bit:3.4.14",
         None),
        ("fluentd", "fluent/fluentd:v1.19-debian-1", None),
    ]
