#!/usr/bin/env bash
# Prepares a machine for pipeline-tests: debootstrap, a Docker engine that answers, Compose v2,
# the .venv, and the fixture image. Safe to re-run: every step checks first and does nothing
# when its part is already there. A machine whose Docker already answers keeps its engine as is.
set -euo pipefail

cd "$(dirname "$0")"
DOCKERD_LOG=/var/log/pipeline-tests-dockerd.log
APT_UPDATED=0
SCRATCH=()
trap 'rm -rf -- "${SCRATCH[@]:-}"' EXIT

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" -eq 0 ] || die "$1 needs root. Re-run as root: sudo ./setup.sh"
}

apt_install() {
    need_root "installing $*"
    command -v apt-get >/dev/null || die "installing $* needs apt-get; install it by hand."
    if [ "$APT_UPDATED" -eq 0 ]; then
        apt-get update -qq
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Prints the Candidate version apt would install, or nothing.
apt_candidate() {
    apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2 }'
}

os_codename() { (. /etc/os-release && echo "${VERSION_CODENAME:-}"); }

# The first apt source URI serving suite $1, read from the one-line and deb822 source files.
debian_mirror() {
    local suite=$1 f uri
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri=$(awk -v s="$suite" '$1 == "deb" {
            i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            if ($(i + 1) == s) { print $i; exit } }' "$f")
        [ -z "$uri" ] || { echo "$uri"; return; }
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" } {
            types = uris = suites = ""; enabled = "yes"
            for (n = 1; n <= NF; n++) {
                split($n, kv, ":"); key = tolower(kv[1]); val = substr($n, length(kv[1]) + 2)
                gsub(/^[ \t]+|[ \t]+$/, "", val)
                if (key == "types") types = val; else if (key == "uris") uris = val
                else if (key == "suites") suites = val; else if (key == "enabled") enabled = val
            }
            if ((" " types " ") ~ / deb / && (" " suites " ") ~ (" " s " ") && enabled != "no") {
                split(uris, u, " "); print u[1]; exit } }' "$f")
        [ -z "$uri" ] || { echo "$uri"; return; }
    done
}

step_packages() {
    if ! command -v debootstrap >/dev/null; then
        if command -v apt-get >/dev/null; then
            apt_install debootstrap
        else
            say "no apt-get: the base image will be built FROM python:3.11-slim (needs a registry)"
        fi
    fi
    # The live view's browser test (tests/integration/test_live_browser.py) drives Debian's
    # chromium through Playwright; Playwright's own browser download is never used.
    if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
        if [ -z "$(apt_candidate chromium)" ] && [ "$APT_UPDATED" -eq 0 ]; then
            need_root "installing chromium"
            apt-get update -qq
            APT_UPDATED=1
        fi
        if [ -n "$(apt_candidate chromium)" ]; then
            apt_install chromium
        else
            say "no chromium package here: the live view's browser test will skip"
        fi
    fi
    if [ ! -x .venv/bin/python ]; then
        local probe
        probe=$(mktemp -d)
        SCRATCH+=("$probe")
        if ! python3 -m venv "$probe/v" >/dev/null 2>&1; then
            apt_install python3-venv
        fi
    fi
}

docker_answers() { docker info >/dev/null 2>&1; }

start_dockerd() {
    need_root "starting the Docker daemon"
    if [ -d /run/systemd/system ] && [ "$(cat /proc/1/comm)" = systemd ]; then
        say "systemctl start docker"
        systemctl start docker
    else
        say "starting dockerd in the background (log: $DOCKERD_LOG)"
        # Own session, so a later Ctrl-C in this terminal does not stop the daemon.
        setsid nohup dockerd </dev/null >>"$DOCKERD_LOG" 2>&1 &
    fi
    local waited=0
    until docker_answers; do
        [ "$waited" -lt 60 ] || die "dockerd did not answer within 60 s; see $DOCKERD_LOG."
        sleep 1
        waited=$((waited + 1))
    done
}

step_docker() {
    if docker_answers; then
        say "docker: engine answers, left untouched"
        return
    fi
    local out
    out=$(docker info 2>&1 || true)
    if grep -qi 'permission denied' <<<"$out"; then
        die "the Docker socket refuses you: add yourself to the docker group \
(sudo usermod -aG docker \$USER, then log in again) or run as root."
    fi
    command -v dockerd >/dev/null || apt_install docker.io
    docker_answers || start_dockerd
    say "docker: engine $(docker version --format '{{.Server.Version}}') answers"
}

compose_major() {
    { docker compose version --short 2>/dev/null || true; } | sed -E 's/^v//; s/[^0-9].*//'
}

compose_ok() { local m; m=$(compose_major); [ -n "$m" ] && [ "$m" -ge 2 ]; }

# Debian bookworm has only Compose 1.x; trixie's `docker-compose` 2.x is a static binary that
# depends on libc6 alone, so it installs cleanly here from the same mirror.
install_trixie_compose() {
    local mirror tmp
    mirror=$(debian_mirror bookworm)
    [ -n "$mirror" ] || die "no bookworm source in /etc/apt to fetch Compose v2 from."
    tmp=$(mktemp -d)
    SCRATCH+=("$tmp")
    mkdir -p "$tmp/lists/partial" "$tmp/archives/partial"
    echo "deb $mirror trixie main" >"$tmp/trixie.list"
    # A private sources list, lists and archive dir leave the host's apt state untouched; the
    # mktemp dir is 0700, so the download runs as root rather than apt's sandbox user.
    local opts=(-o "Dir::Etc::SourceList=$tmp/trixie.list" -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache::Archives=$tmp/archives"
        -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
        -o "APT::Sandbox::User=root")
    say "fetching docker-compose from $mirror trixie"
    apt-get "${opts[@]}" update -qq
    (cd "$tmp" && apt-get "${opts[@]}" download docker-compose >/dev/null)
    dpkg -i "$tmp"/docker-compose_*.deb >/dev/null
}

step_compose() {
    if compose_ok; then
        say "compose: $(docker compose version --short)"
        return
    fi
    need_root "installing Docker Compose v2"
    local pkg installed=0 version major
    if command -v apt-get >/dev/null; then
        [ "$APT_UPDATED" -eq 1 ] || { apt-get update -qq; APT_UPDATED=1; }
        for pkg in docker-compose-v2 docker-compose-plugin docker-compose; do
            version=$(apt_candidate "$pkg")
            [ -n "$version" ] || continue
            major=${version#*:}
            major=${major%%[!0-9]*}
            # Debian bookworm's docker-compose is the Python 1.x tool: no `docker compose`.
            if [ "$pkg" = docker-compose ] && [ "${major:-0}" -lt 2 ]; then continue; fi
            apt_install "$pkg" && installed=1 && break
        done
    fi
    if [ "$installed" -eq 0 ]; then
        [ "$(os_codename)" = bookworm ] || die "no Compose v2 package found; install the \
docker compose plugin by hand (https://docs.docker.com/compose/install/linux/)."
        install_trixie_compose
    fi
    compose_ok || die "docker compose still is not v2 after installing; check 'docker compose version'."
    say "compose: $(docker compose version --short) installed"
}

step_venv() {
    if [ ! -x .venv/bin/python ]; then
        say "creating .venv"
        python3 -m venv .venv
    fi
    # Install again whenever pyproject.toml changed since the last install (a pull that added a
    # dependency), not only on a new venv.
    local stamp=.venv/.pipeline-tests-deps wanted
    wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
    if [ ! -x .venv/bin/pipeline-tests ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        say "pip install -e '.[test]'"
        .venv/bin/pip install -q -e '.[test]'
        echo "$wanted" > "$stamp"
    fi
}

step_image() {
    say "fixture image"
    .venv/bin/pipeline-tests build-image
}

# A second, isolated engine (Debian trixie's docker.io 26.1 in a container) for trials on
# another Docker version; see scripts/engine-docker26.sh.
step_docker26() {
    say "docker26 engine"
    need_root "starting the docker26 engine"
    scripts/engine-docker26.sh start
    install_sshd_quietly
}

# The ssh:// engine test (tests/integration/test_engine_ssh.py) runs its own sshd on 127.0.0.1
# with its own keys; the package's own service is neither started nor enabled.
install_sshd_quietly() {
    [ -x /usr/sbin/sshd ] && return 0
    command -v apt-get >/dev/null || { say "no apt-get: the ssh:// engine test will skip"; return 0; }
    local policy=/usr/sbin/policy-rc.d added=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added=1
    fi
    apt_install openssh-server
    [ "$added" -eq 0 ] || rm -f "$policy"
    if [ -d /run/systemd/system ]; then
        systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
    fi
}

WITH_DOCKER26=0
for arg in "$@"; do
    case "$arg" in
        --with-docker26) WITH_DOCKER26=1 ;;
        *) die "unknown option $arg (known: --with-docker26)" ;;
    esac
done

step_packages
step_docker
step_compose
step_venv
step_image
[ "$WITH_DOCKER26" -eq 0 ] || step_docker26
say "ready"
