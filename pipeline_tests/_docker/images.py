"""The fixture image: the app, the builtin router and the container-side modules on a Python base.

No container registry is reachable on the machines this must run on, so the base is a Debian
rootfs made with debootstrap from the host's own apt mirror and `docker import`ed. Where
debootstrap is missing (a non-Debian host) the usual `python:3.11-slim` route is used, which
needs a registry. Both images are tagged by content hash, so an edit to any copied file rebuilds
the fixture image and nothing else ever does.

    pipeline-tests build-image
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import docker
import docker.errors
from docker.models.images import Image

from pipeline_tests._errors import ImageMissing, SetupError
from pipeline_tests._resources import container_package, data_dir

Progress = Callable[[str], None] | None

BASE_REPO = "pipeline-tests/base"
FIXTURE_REPO = "pipeline-tests/fixture"
LABELS = {"pipeline-tests": "1"}
SUITE = "bookworm"
PACKAGES = ("python3", "python3-msgpack", "python3-fluent-logger")
# Bytes of the rootfs nobody reads inside a test container.
_SHRINK = ("usr/share/doc", "usr/share/man", "usr/share/info", "var/lib/apt/lists",
           "var/cache/apt", "var/cache/debconf/templates.dat-old")
_SLIM_DOCKERFILE = (
    "FROM python:3.11-slim\n"
    "RUN pip install --no-cache-dir msgpack fluent-logger\n"
)


def _digest(parts: list[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:16]


def _say(progress: Progress, text: str) -> None:
    if progress is not None:
        progress(text)


def find_image(client: docker.DockerClient, name: str) -> Image | None:
    """The engine's image of that name or id, or None when it has none: the one "is this image
    present?" (the fixture image, router images, copies between engines)."""
    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound:
        return None


# --- Debian mirror ---------------------------------------------------------------------------

def _list_uris(text: str, suite: str) -> Iterator[str]:
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] != ["deb"]:
            continue
        if len(words) > 1 and words[1].startswith("["):
            # One-line options, e.g. `[arch=amd64 signed-by=...]`, may span several words.
            while words and not words[1].endswith("]"):
                words.pop(1)
            words.pop(1)
        if len(words) > 2 and words[2] == suite:
            yield words[1]


def _sources_uris(text: str, suite: str) -> Iterator[str]:
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith(("#", " ")):
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
        if (
            "deb" in fields.get("types", "").split()
            and suite in fields.get("suites", "").split()
            and fields.get("enabled", "yes").lower() != "no"
        ):
            yield from fields.get("uris", "").split()


def debian_mirror(suite: str = SUITE, etc: Path = Path("/etc/apt")) -> str | None:
    """The first apt source URI serving `suite`, read from the host's apt configuration."""
    files = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]
    for path in files:
        if path.is_file():
            for uri in _list_uris(path.read_text(errors="replace"), suite):
                return uri
    for path in sorted((etc / "sources.list.d").glob("*.sources")):
        for uri in _sources_uris(path.read_text(errors="replace"), suite):
            return uri
    return None


# --- base image ------------------------------------------------------------------------------

def base_tag(debootstrap: bool) -> str:
    route = f"debootstrap:minbase:{SUITE}" if debootstrap else _SLIM_DOCKERFILE
    parts = [route.encode(), " ".join(PACKAGES).encode(), " ".join(_SHRINK).encode()]
    return f"{BASE_REPO}:{_digest(parts)}"


def _unmount_below(root: Path) -> None:
    # An interrupted debootstrap leaves /proc and /sys mounted in the target; removing the tree
    # before unmounting them would walk into the host's /proc.
    mounts = Path("/proc/mounts").read_text().splitlines()
    points = [line.split()[1] for line in mounts if len(line.split()) > 1]
    for point in sorted(points, key=len, reverse=True):
        if point == str(root) or point.startswith(f"{root}/"):
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)


@contextmanager
def _scratch(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        _unmount_below(path)
        shutil.rmtree(path, ignore_errors=True)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for _ in range(100):  # orphaned members exit a moment after the SIGKILL
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def _debootstrap(target: Path, mirror: str) -> None:
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
           SUITE, str(target), mirror]
    # Own process group, so an interrupt can stop debootstrap *and* the dpkg it runs in the
    # chroot before the tree is removed; killing only the shell leaves dpkg writing files.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate()
    except BaseException:
        _kill_group(proc)
        raise
    if proc.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-5:])
        raise SetupError(
            f"debootstrap failed making the base image from {mirror}:\n{tail}\n"
            "Check that the mirror is reachable (`apt-get update` works) and retry."
        )
    for rel in _SHRINK:
        shutil.rmtree(target / rel, ignore_errors=True)


def _import_rootfs(client: docker.DockerClient, rootfs: Path, tag: str) -> None:
    repo, _, version = tag.partition(":")
    changes = ['LABEL pipeline-tests="1"', 'CMD ["python3"]',
               "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."],
                           stdout=subprocess.PIPE)
    try:
        # Streamed (chunked) so the ~150 MB rootfs never sits in memory or in a second file.
        reply = client.api.import_image(src=tar.stdout, repository=repo, tag=version,
                                        changes=changes, stream_src=True)
    finally:
        if tar.stdout is not None:
            tar.stdout.close()
        tar.kill()
        tar.wait()
    if find_image(client, tag) is None:
        raise SetupError(f"docker import of the base rootfs did not produce {tag}: {reply}")


def _build_debootstrap_base(client: docker.DockerClient, tag: str, progress: Progress) -> None:
    if os.geteuid() != 0:
        raise SetupError(
            "Building the base image with debootstrap needs root. Run "
            "`sudo pipeline-tests build-image` (or `sudo ./setup.sh`) once."
        )
    mirror = debian_mirror()
    if mirror is None:
        raise SetupError(
            f"No apt source for Debian {SUITE} was found in /etc/apt/sources.list or "
            f"/etc/apt/sources.list.d/, so debootstrap has no mirror. Add a `{SUITE}` source."
        )
    _say(progress, f"building {tag} with debootstrap from {mirror} (about a minute)")
    with _scratch("pt-rootfs-") as scratch:
        rootfs = scratch / "rootfs"
        _debootstrap(rootfs, mirror)
        _say(progress, f"importing {tag}")
        _import_rootfs(client, rootfs, tag)


def _build_slim_base(client: docker.DockerClient, tag: str, progress: Progress) -> None:
    _say(progress, f"building {tag} from python:3.11-slim (needs a container registry)")
    dockerfile = io.BytesIO(_SLIM_DOCKERFILE.encode())
    try:
        client.images.build(fileobj=dockerfile, tag=tag, labels=LABELS, network_mode="host",
                            rm=True, forcerm=True)
    except (docker.errors.BuildError, docker.errors.APIError) as exc:
        raise SetupError(
            f"Building the base image from python:3.11-slim failed ({exc}). That route needs "
            "a reachable container registry; without one, install debootstrap on a Debian or "
            "Ubuntu host (`./setup.sh` does) so the base is made offline."
        ) from None


def base_image(client: docker.DockerClient, progress: Progress = None) -> str:
    use_debootstrap = shutil.which("debootstrap") is not None
    tag = base_tag(use_debootstrap)
    if find_image(client, tag) is None:
        if use_debootstrap:
            _build_debootstrap_base(client, tag, progress)
        else:
            _build_slim_base(client, tag, progress)
    return tag


# --- fixture image ---------------------------------------------------------------------------

# What runs inside containers: the Forward codec and tally (app, builtin router), and the sink
# with its ledger (fixtures/sink.py, the sink beside the task on the trial's engine).
IMAGE_PACKAGES = ("_container", "_ledger", "_sink")

def context_files() -> dict[str, Path]:
    """Context path -> source file: the Dockerfile, every fixture script and the packages that
    run in containers (IMAGE_PACKAGES, copied whole; the image's pipeline_tests/__init__.py is
    empty, so nothing beyond the standard library and msgpack is imported there)."""
    fixtures = data_dir("fixtures")
    files = {"Dockerfile": fixtures / "Dockerfile"}
    files.update({f"pt/fixtures/{p.name}": p for p in sorted(fixtures.glob("*.py"))})
    package = container_package().parent
    for sub in IMAGE_PACKAGES:
        files.update({f"pt/pipeline_tests/{sub}/{p.name}": p
                      for p in sorted((package / sub).glob("*.py"))})
    files["pt/pipeline_tests/_errors.py"] = package / "_errors.py"
    return files


def fixture_tag(base: str, files: Mapping[str, Path] | None = None) -> str:
    """The fixture image's tag: a hash of the base and every file of the build context."""
    parts = [base.encode()]
    for rel, path in sorted((files if files is not None else context_files()).items()):
        parts += [rel.encode(), path.read_bytes()]
    return f"{FIXTURE_REPO}:{_digest(parts)}"


def _build_fixture(client: docker.DockerClient, base: str, tag: str) -> None:
    with _scratch("pt-context-") as ctx:
        for rel, path in context_files().items():
            (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, ctx / rel)
        (ctx / "pt/pipeline_tests/__init__.py").write_text("")
        try:
            client.images.build(path=str(ctx), tag=tag, buildargs={"BASE_IMAGE": base},
                                labels=LABELS, network_mode="host", rm=True, forcerm=True)
        except (docker.errors.BuildError, docker.errors.APIError) as exc:
            raise SetupError(
                f"Building the fixture image {tag} failed: {exc}. Fix fixtures/Dockerfile "
                "or the files it copies, then run `pipeline-tests build-image`."
            ) from None


def fixture_image(
    client: docker.DockerClient, build: bool = True, progress: Progress = None
) -> str:
    """The fixture image's tag, built (base first) when missing; also tagged `:latest`."""
    use_debootstrap = shutil.which("debootstrap") is not None
    base = base_image(client, progress) if build else base_tag(use_debootstrap)
    tag = fixture_tag(base)
    if find_image(client, tag) is None:
        if not build:
            raise ImageMissing(
                f"The fixture image {tag} is not built. Build it with "
                "`pipeline-tests build-image` (or `./setup.sh`)."
            )
        _say(progress, f"building {tag}")
        _build_fixture(client, base, tag)
    client.images.get(tag).tag(FIXTURE_REPO, "latest")
    return tag
