"""Count the Redis commands that given processes send, with Redis's MONITOR command.

MONITOR reports every command the server runs with the client's address, so
the count is right on a Redis that other programs use at the same time.
Commands that a Lua script runs are reported with the address ``lua`` right
after the EVAL or EVALSHA that ran them (Redis 7.0), and are counted for that
caller as script commands.
"""

from __future__ import annotations

import re
import select
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import psutil

_LINE = re.compile(r'^\+(?P<time>[\d.]+) \[(?P<db>\d+) (?P<address>[^\]]+)\] "(?P<command>[^"]*)"')
_SCRIPT_CALLS = {"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"}


@dataclass
class CommandCount:
    """Commands sent by one group of processes, and the commands their scripts ran."""

    client_commands: Counter = field(default_factory=Counter)
    script_commands: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.client_commands.values()) + sum(self.script_commands.values())


def redis_client_ports(pids: list[int], port: int) -> set[int]:
    """Return the local TCP ports of the connections to ``port`` of the processes and their children."""
    ports = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in processes:
            try:
                connections = process.net_connections(kind="tcp")
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            for connection in connections:
                if connection.raddr and connection.raddr.port == port:
                    ports.add(connection.laddr.port)
    return ports


def count_commands(redis_url: str, groups: dict[str, list[int]], seconds: float) -> dict[str, CommandCount]:
    """Return, per group of process ids, the commands their processes sent during ``seconds``.

    Raises:
      ValueError: ``redis_url`` is not a TCP ``redis://`` URL.
      OSError: the connection to Redis failed.
    """
    parts = urlsplit(redis_url)
    if parts.scheme != "redis" or not parts.hostname:
        raise ValueError(f"Counting commands needs a redis:// TCP URL, got {redis_url!r}.")
    port = parts.port or 6379
    owners = {name: redis_client_ports(pids, port) for name, pids in groups.items()}
    lines = _monitor(parts.hostname, port, parts.password, seconds)
    for name, pids in groups.items():
        # Connections opened during the window are attributed too.
        owners[name] |= redis_client_ports(pids, port)
    counts = {name: CommandCount() for name in groups}
    caller = None
    for line in lines:
        match = _LINE.match(line)
        if match is None:
            continue
        address, command = match["address"], match["command"].lower()
        if address == "lua":
            if caller is not None:
                counts[caller].script_commands[command] += 1
            continue
        caller = None
        client_port = address.rsplit(":", 1)[-1]
        for name, ports in owners.items():
            if client_port.isdigit() and int(client_port) in ports:
                counts[name].client_commands[command] += 1
                if command in _SCRIPT_CALLS:
                    caller = name
                break
    return counts


def _monitor(host: str, port: int, password: str | None, seconds: float) -> list[str]:
    with socket.create_connection((host, port), timeout=5) as connection:
        if password:
            connection.sendall(f"AUTH {password}\r\n".encode())
            _read_until(connection, b"\r\n", 5)
        connection.sendall(b"MONITOR\r\n")
        data = bytearray()
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([connection], [], [], remaining)
            if readable:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                data += chunk
    lines = data.decode(errors="replace").split("\r\n")
    # The first line is MONITOR's "+OK"; the last one may be cut off.
    return lines[1:-1]


def _read_until(connection: socket.socket, marker: bytes, timeout: float) -> bytes:
    data = bytearray()
    deadline = time.monotonic() + timeout
    while marker not in data:
        if time.monotonic() > deadline:
            raise TimeoutError("Redis did not reply to AUTH.")
        data += connection.recv(4096)
    return bytes(data)
