"""Failing fast, and by name, when a port the stack needs is taken."""

from __future__ import annotations

import socket


class PortInUse(RuntimeError):
    pass


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def require_free_ports(host: str, wanted: dict[str, tuple[int, str]]) -> None:
    """`wanted` maps a role to (port, the option that changes it)."""
    for role, (port, option) in wanted.items():
        if not port_is_free(host, port):
            raise PortInUse(
                f"port {port} ({role}) is already in use; stop whatever holds it or choose "
                f"another port with {option}"
            )
