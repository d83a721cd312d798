#!/usr/bin/env bash
# A second, isolated Docker engine for trials: Debian trixie's docker.io (26.1) in a container.
#
#   scripts/engine-docker26.sh start    build the engine image once, run it, load the fixture image
#   scripts/engine-docker26.sh stop     remove the container and the `docker26` context
#   scripts/engine-docker26.sh status   the engine's version, or "not running"
#
# The engine container has no network (`--network none`): its containers' host network is its
# own loopback. Only its socket directory is shared with the host (/run/pt-docker26 -> /sock).
# Its /var/lib/docker is a named volume (overlay on overlay fails), kept between starts, so
# images loaded into it stay there. `--privileged` fails on machines whose bounding set lacks
# CAP_SYS_RESOURCE; every other capability plus unconfined seccomp/apparmor does the same job.
set -euo pipefail

cd "$(dirname "$0")/.."
NAME=pt-engine-docker26
LABEL=pipeline-tests-engine=docker26
VOLUME=pt-engine-docker26-data
CONTEXT=docker26
SOCK_DIR=/run/pt-docker26
SOCK=unix://$SOCK_DIR/docker.sock
SUITE=trixie
PACKAGES=docker.io,ca-certificates,iproute2,procps,pigz,xz-utils
DOCKERD=(dockerd --host unix:///sock/docker.sock --bridge none --iptables=false
    --ip6tables=false)
IMPORT_CHANGES=('ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    'LABEL pipeline-tests-engine="docker26"')
WAIT_SECONDS=90
SCRATCH=()
trap 'cleanup' EXIT

say() { printf 'engine-docker26: %s\n' "$*"; }
die() { printf 'engine-docker26: error: %s\n' "$*" >&2; exit 1; }

# Removes scratch rootfs trees, unmounting what an interrupted debootstrap left mounted in them.
cleanup() {
    local dir point
    for dir in "${SCRATCH[@]:-}"; do
        [ -n "$dir" ] || continue
        { awk '{ print $2 }' /proc/mounts | grep -E "^$dir(/|$)" || true; } | sort -r |
            while read -r point; do umount -l "$point" 2>/dev/null || true; done
        rm -rf -- "$dir"
    done
}

# The image tag: a hash of everything that goes into the image (not of the rest of this file).
image_tag() {
    local hash
    hash=$(printf '%s\n' "$SUITE" "minbase" "$PACKAGES" "${IMPORT_CHANGES[@]}" |
        sha256sum | cut -c1-16)
    echo "pipeline-tests/engine-docker26:$hash"
}

# The host's apt mirror, found the way pipeline_tests/_docker/images.py finds it.
host_mirror() {
    local codename
    codename=$( (. /etc/os-release && echo "${VERSION_CODENAME:-}") )
    [ -x .venv/bin/python ] || die "no .venv: run ./setup.sh first."
    .venv/bin/python - "$codename" <<'EOF'
import sys
from pipeline_tests._docker.images import SUITE, debian_mirror
for suite in dict.fromkeys([sys.argv[1], SUITE, "trixie"]):
    uri = suite and debian_mirror(suite)
    if uri:
        print(uri)
        break
EOF
}

build_image() {
    local tag=$1 mirror scratch started=$SECONDS
    [ "$(id -u)" -eq 0 ] || die "building the engine image needs root (debootstrap)."
    command -v debootstrap >/dev/null || die "debootstrap is missing; ./setup.sh installs it."
    mirror=$(host_mirror)
    [ -n "$mirror" ] || die "no Debian apt source in /etc/apt to debootstrap $SUITE from."
    scratch=$(mktemp -d /var/tmp/pt-engine-rootfs.XXXXXX)
    SCRATCH+=("$scratch")
    say "debootstrap $SUITE with docker.io from $mirror (a few minutes, once)"
    if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$scratch/rootfs" \
        "$mirror" >"$scratch/debootstrap.log" 2>&1; then
        tail -n 15 "$scratch/debootstrap.log" >&2
        die "debootstrap of $SUITE failed (log above); check that $mirror serves $SUITE."
    fi
    rm -rf "$scratch/rootfs/var/cache/apt" "$scratch/rootfs/var/lib/apt/lists" \
        "$scratch/rootfs/usr/share/doc" "$scratch/rootfs/usr/share/man"
    say "docker import $tag"
    local changes=() c
    for c in "${IMPORT_CHANGES[@]}"; do changes+=(--change "$c"); done
    tar --numeric-owner -C "$scratch/rootfs" -c . | docker import "${changes[@]}" - "$tag" \
        >/dev/null
    say "built $tag in $((SECONDS - started)) s"
}

engine_answers() { docker -H "$SOCK" version >/dev/null 2>&1; }

run_container() {
    local tag=$1
    docker rm -f "$NAME" >/dev/null 2>&1 || true
    mkdir -p "$SOCK_DIR"
    rm -f "$SOCK_DIR/docker.sock"
    docker volume create --label "$LABEL" "$VOLUME" >/dev/null
    say "running $NAME"
    docker run -d --name "$NAME" --label "$LABEL" --network none \
        --cap-add ALL --cap-drop SYS_RESOURCE \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
        --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
        -v "$SOCK_DIR:/sock" -v "$VOLUME:/var/lib/docker" \
        "$tag" "${DOCKERD[@]}" >/dev/null
}

engine_failed() {
    printf '%s\n' "--- last lines of $NAME's log:" >&2
    docker logs --tail 20 "$NAME" 2>&1 | sed 's/^/    /' >&2 || true
    die "$1 (log above). Fix it, then run $0 start again."
}

wait_for_engine() {
    local waited=0
    until engine_answers; do
        [ "$(docker inspect -f '{{.State.Running}}' "$NAME" 2>/dev/null)" = true ] ||
            engine_failed "dockerd in $NAME exited after $waited s"
        [ "$waited" -lt "$WAIT_SECONDS" ] ||
            engine_failed "the engine in $NAME did not answer on $SOCK within $WAIT_SECONDS s"
        sleep 1
        waited=$((waited + 1))
    done
}

ensure_context() {
    local verb=create out
    docker context inspect "$CONTEXT" >/dev/null 2>&1 && verb=update
    out=$(docker context "$verb" "$CONTEXT" --description "pipeline-tests: docker.io 26.1 in $NAME" \
        --docker "host=$SOCK" 2>&1) || die "docker context $verb $CONTEXT failed: $out"
}

# Containers of this engine must see only their engine's loopback as the host network.
check_isolation() {
    local tag=$1 seen
    seen=$(docker -H "$SOCK" run --rm --network host "$tag" python3 -c \
        'import socket; print(" ".join(sorted(n for _, n in socket.if_nameindex())))')
    [ "$seen" = lo ] || die "a --network host container of $NAME sees interfaces '$seen', not only lo."
    say "isolation: a --network host container sees only: $seen"
}

start() {
    local tag started=$SECONDS
    tag=$(image_tag)
    if docker image inspect "$tag" >/dev/null 2>&1; then
        say "image $tag present"
    else
        build_image "$tag"
    fi
    if engine_answers && [ "$(docker inspect -f '{{.Config.Image}}' "$NAME" 2>/dev/null)" = "$tag" ]
    then
        say "$NAME already answers"
    else
        run_container "$tag"
        wait_for_engine
    fi
    ensure_context
    say "engine $(docker -H "$SOCK" version --format '{{.Server.Version}}') answers on $SOCK \
(context $CONTEXT)"
    .venv/bin/pipeline-tests doctor --engine "$CONTEXT"
    check_isolation pipeline-tests/fixture:latest
    say "ready in $((SECONDS - started)) s"
}

stop() {
    docker rm -f "$NAME" >/dev/null 2>&1 && say "removed $NAME" || say "$NAME was not running"
    if docker context inspect "$CONTEXT" >/dev/null 2>&1; then
        [ "$(docker context show 2>/dev/null)" != "$CONTEXT" ] || docker context use default >/dev/null
        docker context rm "$CONTEXT" >/dev/null && say "removed context $CONTEXT"
    fi
}

status() {
    if engine_answers; then
        echo "docker26: $(docker -H "$SOCK" version --format 'server {{.Server.Version}} (API {{.Server.APIVersion}})') on $SOCK"
    else
        echo "docker26: not running"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) die "usage: $0 start|stop|status" ;;
esac
