"""A replicated PostgreSQL on loopback for the tests: Debian's pg_auto_failover (a monitor, a
primary and a standby), each on a port of its own, run as the `postgres` OS user with trust
authentication on 127.0.0.1, its data under a temporary directory.

`Cluster.start()` brings it up (scripts/ensure-pg-auto-failover installs the packages);
`Cluster.stop()` takes every process down and removes the directory, whatever state it was in.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

PG_BIN = Path("/usr/lib/postgresql/15/bin")
OS_USER = "postgres"
DATABASE = "audit_trail_ha"


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class Node:
    name: str
    port: int
    pgdata: Path
    process: subprocess.Popen | None = None
    log: Path | None = None


@dataclass
class Cluster:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="audit-trail-ha-")))
    nodes: dict[str, Node] = field(default_factory=dict)
    started_in: float = 0.0

    def __post_init__(self) -> None:
        monitor, first, second = free_ports(3)
        self.monitor = Node("monitor", monitor, self.root / "monitor")
        self.nodes = {
            "node1": Node("node1", first, self.root / "node1"),
            "node2": Node("node2", second, self.root / "node2"),
        }
        if os.geteuid() == 0:
            os.chown(self.root, pwd.getpwnam(OS_USER).pw_uid, -1)

    # --- running pg_autoctl as the postgres user ------------------------------------------------

    def _env(self) -> dict[str, str]:
        return {
            "PATH": f"{PG_BIN}:/usr/bin:/bin",
            "PG_CONFIG": str(PG_BIN / "pg_config"),
            # pg_autoctl keeps its configuration, state and pid files under these: all ours.
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "XDG_DATA_HOME": str(self.root / "share"),
            "XDG_RUNTIME_DIR": str(self.root / "run"),
            "HOME": str(self.root),
            "LANG": "C.UTF-8",
        }

    def _command(self, *args: str) -> list[str]:
        env = [f"{k}={v}" for k, v in self._env().items()]
        run_as = ["runuser", "-u", OS_USER, "--"] if os.geteuid() == 0 else []
        return [*run_as, "env", "-i", *env, "pg_autoctl", *args]

    def autoctl(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            self._command(*args), capture_output=True, text=True, timeout=timeout, cwd=self.root
        )
        if result.returncode != 0:
            raise RuntimeError(f"pg_autoctl {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def _spawn(self, node: Node, *args: str) -> None:
        node.log = self.root / f"{node.name}.log"
        with open(node.log, "ab") as log:
            node.process = subprocess.Popen(
                self._command(*args),
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as one
            )

    @property
    def monitor_uri(self) -> str:
        return f"postgres://autoctl_node@127.0.0.1:{self.monitor.port}/pg_auto_failover?sslmode=disable"

    def start(self) -> None:
        began = time.monotonic()
        (self.root / "run").mkdir(exist_ok=True)
        if os.geteuid() == 0:
            os.chown(self.root / "run", pwd.getpwnam(OS_USER).pw_uid, -1)
        common = ("--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl")
        self.autoctl(
            "create",
            "monitor",
            "--pgdata",
            str(self.monitor.pgdata),
            "--pgport",
            str(self.monitor.port),
            *common,
        )
        self._spawn(self.monitor, "run", "--pgdata", str(self.monitor.pgdata))
        self._wait(lambda: self._accepts(self.monitor.port), "the monitor to accept connections", 60)
        first, second = self.nodes.values()
        self._start_node(first, common)
        self._wait(
            lambda: self.states().get(first.name) in {"single", "wait_primary", "primary"},
            "node1 as primary",
            90,
        )
        self._start_node(second, common)
        # pg_basebackup waits for a checkpoint, which an idle primary takes only after minutes.
        self._wait(self.healthy, "the standby to catch up", 120, nudge=lambda: self._checkpoint(first.port))
        self.started_in = time.monotonic() - began

    def _start_node(self, node: Node, common: tuple[str, ...]) -> None:
        self._spawn(
            node,
            "create", "postgres", "--pgdata", str(node.pgdata), "--pgport", str(node.port), "--name", node.name,
            "--dbname", DATABASE, "--monitor", self.monitor_uri, "--run", *common,
        )  # fmt: skip

    def _checkpoint(self, port: int) -> None:
        try:
            with psycopg.connect(self.conninfo(port, "postgres"), autocommit=True, connect_timeout=2) as conn:
                conn.execute("CHECKPOINT")
        except psycopg.Error:
            pass

    @staticmethod
    def _accepts(port: int) -> bool:
        try:
            psycopg.connect(
                f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=2"
            ).close()
            return True
        except psycopg.Error:
            return False

    def _wait(self, ready, what: str, timeout: float, nudge=None) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"Timed out waiting for {what}:\n{self.describe()}")
            for node in (self.monitor, *self.nodes.values()):
                if node.process is not None and node.process.poll() is not None:
                    raise RuntimeError(f"pg_autoctl for {node.name} exited:\n{self.describe()}")
            if nudge:
                nudge()
            time.sleep(0.5)

    # --- what the cluster looks like ------------------------------------------------------------

    def states(self) -> dict[str, str]:
        """Each node's state as the monitor reports it (primary, secondary, wait_primary, ...)."""
        try:
            with psycopg.connect(
                self.conninfo(self.monitor.port, "pg_auto_failover"), connect_timeout=2
            ) as conn:
                rows = conn.execute(
                    "SELECT nodename, reportedstate, goalstate FROM pgautofailover.node"
                ).fetchall()
        except psycopg.Error:
            return {}
        return {name: str(reported) for name, reported, goal in rows if reported == goal}

    def healthy(self) -> bool:
        return sorted(self.states().values()) == ["primary", "secondary"]

    def role_port(self, role: str) -> int:
        (name,) = [name for name, state in self.states().items() if state == role]
        return self.nodes[name].port

    @property
    def primary_port(self) -> int:
        return self.role_port("primary")

    @property
    def standby_port(self) -> int:
        return self.role_port("secondary")

    @staticmethod
    def conninfo(port: int, dbname: str = DATABASE) -> str:
        return f"host=127.0.0.1 port={port} user=postgres dbname={dbname} sslmode=disable"

    def url(self, target: str) -> str:
        """The libpq multi-host URL of both nodes, with `target_session_attrs=target`."""
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in self.nodes.values())
        return f"postgres://postgres@{hosts}/{DATABASE}?target_session_attrs={target}&sslmode=disable"

    def node_of_port(self, port: int) -> Node:
        (node,) = [n for n in self.nodes.values() if n.port == port]
        return node

    def describe(self) -> str:
        logs = []
        for node in (self.monitor, *self.nodes.values()):
            if node.log and node.log.exists():
                logs.append(
                    f"--- {node.name}\n" + "\n".join(node.log.read_text(errors="replace").splitlines()[-15:])
                )
        return json.dumps(self.states()) + "\n" + "\n".join(logs)

    # --- changing it ----------------------------------------------------------------------------

    def failover(self) -> float:
        """`pg_autoctl perform failover`: the standby becomes the primary. Returns its seconds."""
        began = time.monotonic()
        self.autoctl("perform", "failover", "--pgdata", str(self.monitor.pgdata), timeout=120)
        self._wait(self.healthy, "the cluster to settle after the failover", 120)
        return time.monotonic() - began

    def stop_node(self, node: Node) -> None:
        """Stop a node's keeper and its PostgreSQL (as a crash of its machine would)."""
        self._terminate(node)

    def start_again(self, node: Node) -> None:
        self._spawn(node, "run", "--pgdata", str(node.pgdata))
        self._wait(self.healthy, f"{node.name} to rejoin", 120)

    def _terminate(self, node: Node, timeout: float = 30) -> None:
        process = node.process
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)  # pg_autoctl stops its PostgreSQL (fast)
                process.wait(timeout=timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
        node.process = None
        if (node.pgdata / "postmaster.pid").exists():  # a PostgreSQL its keeper left behind
            subprocess.run(
                [*self._command()[:-1], "pg_ctl", "stop", "-D", str(node.pgdata), "-m", "immediate"],
                capture_output=True,
                timeout=60,
            )

    def stop(self) -> None:
        for node in (*self.nodes.values(), self.monitor):
            try:
                self._terminate(node)
            except Exception:  # keep stopping the others; the directory goes anyway
                pass
        shutil.rmtree(self.root, ignore_errors=True)
