"""fluentd <security> shared_key handshake (HELO, PING, PONG; sha512 hex digests), both sides.

Server: send helo(), read the client's PING, send answer(ping)[0]; close unless accepted.
Client: read HELO, send ping(helo), read PONG, check_pong(pong) (raises HandshakeError).

forward.py re-exports every name here. Runs inside the fixture containers too (the builtin
router's output): standard library + msgpack >= 1.0.3.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from pipeline_tests._container.forward_encode import pack


class HandshakeError(ValueError):
    """The peer failed the shared_key handshake (or sent something else instead)."""


def _b(value: Any) -> bytes:
    if type(value) is bytes:
        return value
    if type(value) is str:
        return value.encode("utf-8", "surrogateescape")
    raise HandshakeError(f"expected a string in the handshake, got {type(value).__name__}")


def _digest(*parts: Any) -> str:
    h = hashlib.sha512()
    for part in parts:
        h.update(_b(part))
    return h.hexdigest()


class ServerHandshake:
    """Server side: send helo(), read the client's PING, send answer()[0]; close unless accepted."""

    def __init__(self, shared_key: str, hostname: str = "pipeline-tests-sink",
                 nonce: bytes | None = None) -> None:
        self.shared_key = shared_key
        self.hostname = hostname
        self.nonce = nonce if nonce is not None else os.urandom(16)

    def helo(self) -> bytes:
        # ['HELO', {nonce, auth, keepalive}]; auth '' = no username/password required.
        return pack(["HELO", {"nonce": self.nonce, "auth": b"", "keepalive": True}])

    def answer(self, ping: Any) -> tuple[bytes, bool]:
        """The PONG to send, and whether the client proved it knows the shared key."""
        reason = self._check(ping)
        if reason:
            return pack(["PONG", False, reason, "", ""]), False
        salt = ping[2]
        digest = _digest(salt, self.hostname, self.nonce, self.shared_key)
        return pack(["PONG", True, "", self.hostname, digest]), True

    def _check(self, ping: Any) -> str:
        # ['PING', hostname, salt, sha512_hex(salt + hostname + nonce + key), user, pass_digest]
        if type(ping) is not list or len(ping) != 6 or ping[0] not in ("PING", b"PING"):
            return "invalid ping message"
        try:
            expected = _digest(ping[2], ping[1], self.nonce, self.shared_key)
        except HandshakeError:
            return "invalid ping message"
        if ping[3] not in (expected, expected.encode()):
            return "shared_key mismatch"
        return ""


class ClientHandshake:
    """Client side: read HELO, send ping(helo), read PONG, check_pong(pong) (raises on refusal)."""

    def __init__(self, shared_key: str, hostname: str = "pipeline-tests",
                 salt: bytes | None = None) -> None:
        self.shared_key = shared_key
        self.hostname = hostname
        self.salt = salt if salt is not None else os.urandom(16)
        self._nonce = b""

    def ping(self, helo: Any) -> bytes:
        if type(helo) is not list or len(helo) != 2 or helo[0] not in ("HELO", b"HELO") \
                or type(helo[1]) is not dict:
            raise HandshakeError(f"expected ['HELO', {{nonce, ...}}] from the server, got {helo!r}")
        nonce = helo[1].get("nonce", helo[1].get(b"nonce"))
        if nonce is None:
            raise HandshakeError(f"the server's HELO has no nonce: {helo!r}")
        self._nonce = _b(nonce)
        digest = _digest(self.salt, self.hostname, self._nonce, self.shared_key)
        return pack(["PING", self.hostname, self.salt, digest, "", ""])

    def check_pong(self, pong: Any) -> None:
        if type(pong) is not list or len(pong) != 5 or pong[0] not in ("PONG", b"PONG"):
            raise HandshakeError(f"expected ['PONG', ...] from the server, got {pong!r}")
        if pong[1] is not True:
            raise HandshakeError(f"the server refused the handshake: {pong[2]}")
        expected = _digest(self.salt, pong[3], self._nonce, self.shared_key)
        if pong[4] not in (expected, expected.encode()):
            raise HandshakeError("the server's PONG digest does not match: it has another key")
