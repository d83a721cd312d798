"""A trial's volumes, reached only through the engine's API.

Every piece of a trial's state lives in a volume of its Compose project (compose/sink.yaml lists
them): the app's tally, the routers' counters and config, the sink's ledger. The sink container
mounts them all under /trial/<volume>, so the tester puts files in (put_archive) and copies them
out (get_archive) through that one container, on whichever engine runs the trial; the copies
land in the trial's directory, where the rest of pipeline-tests reads them.
"""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path
from typing import Any

import docker
import docker.errors

from pipeline_tests._errors import InputError, TrialFailed

MOUNT_ROOT = "/trial"
MAX_UPLOAD = 64 * 1024 * 1024  # a router's config directory copied into its volume


def _tar_of(source: Path, name: str) -> bytes:
    buffer, total = io.BytesIO(), 0
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted([source, *source.rglob("*")]):
            info = tar.gettarinfo(str(path), arcname=str(Path(name) / path.relative_to(source)))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o755 if info.isdir() else (info.mode | 0o644)
            total += info.size if info.isfile() else 0
            if total > MAX_UPLOAD:
                raise InputError(f"{source} holds more than {MAX_UPLOAD // 2**20} MiB; a "
                                 "router's config directory is copied into the trial whole. "
                                 "Put the config file in a directory of its own.")
            if info.isfile():
                with path.open("rb") as data:
                    tar.addfile(info, data)
            else:
                tar.addfile(info)
    return buffer.getvalue()


class TrialVolumes:
    """The trial's volumes through its sink container; copies land in `directory`/<volume>."""

    def __init__(self, container: Any, directory: Path, every: float = 1.0) -> None:
        self.container, self.directory, self.every = container, directory, every
        self._pulled: dict[str, float] = {}

    def put(self, volume: str, source: Path) -> None:
        """Copy the directory `source` into the volume's root (its contents, not itself)."""
        data = _tar_of(source, ".")
        if not self.container.put_archive(f"{MOUNT_ROOT}/{volume}", data):
            raise TrialFailed(f"Copying {source} into the trial's volume {volume} failed.")

    def put_bytes(self, volume: str, name: str, data: bytes) -> None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        self.container.put_archive(f"{MOUNT_ROOT}/{volume}", buffer.getvalue())

    def pull(self, volume: str, *names: str, fresh: bool = False) -> Path:
        """Copy the volume (or only `names` in it) into directory/<volume>; at most once every
        `every` seconds unless `fresh`. Returns the local directory."""
        target = self.directory / volume
        key = "|".join((volume, *names))
        if not fresh and time.monotonic() - self._pulled.get(key, 0.0) < self.every:
            return target
        self._pulled[key] = time.monotonic()
        target.mkdir(parents=True, exist_ok=True)
        for name in names or ("",):
            self._extract(f"{MOUNT_ROOT}/{volume}/{name}".rstrip("/"), target, bool(name))
        return target

    def _extract(self, path: str, target: Path, single: bool) -> None:
        try:
            stream, _ = self.container.get_archive(path)
        except docker.errors.NotFound:
            return  # not written yet
        data = io.BytesIO(b"".join(stream))
        with tarfile.open(fileobj=data) as tar:
            for member in tar.getmembers():
                # A directory arrives as <name>/...; a single file as <name>.
                parts = Path(member.name).parts
                rel = Path(*parts[1:]) if not single and len(parts) > 1 else Path(parts[-1])
                if (not single and len(parts) == 1) or ".." in parts or member.name[:1] == "/":
                    continue  # the volume's own directory, or a path that leaves it
                _extract_member(tar, member, target / rel)


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    if member.isdir():
        dest.mkdir(parents=True, exist_ok=True)
        return
    if not member.isfile():
        return  # links and sockets (the router's unix socket) stay on the engine
    source = tar.extractfile(member)
    if source is None:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".pulling")
    tmp.write_bytes(source.read())
    tmp.replace(dest)  # a reader never sees half a file


def mountpoint(client: docker.DockerClient, project: str, volume: str) -> str:
    """Where a volume of the project lives on the engine host (a unix socket's directory: the
    log driver runs in the engine and connects to a path on its host)."""
    found = client.volumes.list(filters={"label": [f"com.docker.compose.project={project}",
                                                   f"com.docker.compose.volume={volume}"]})
    if not found:
        raise TrialFailed(f"Volume {volume} of project {project} does not exist; `docker "
                          "compose up` did not create it.")
    return str(found[0].attrs["Mountpoint"])
