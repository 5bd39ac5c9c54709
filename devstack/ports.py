"""Failing fast, and by name, when a port the stack needs is taken."""

from __future__ import annotations

import socket


class PortInUse(RuntimeError):
    pass


def port_is_free(host: str, port: int) -> bool:
    """True if a server could listen on host:port now.

    The probe sets SO_REUSEADDR as uvicorn and the Temporal server do, so connections left in
    TIME_WAIT or FIN_WAIT by a stack that just stopped do not count as the port being taken;
    a socket that is listening on the port, or bound to it without SO_REUSEADDR, still does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
