"""Real clusters for the SDK's tests: `agora dev` (a server and an agent, on the embedded store),
or `agora server` replicas on a real `redis-server` with a real `agora agent`.

The `agora` binary is `$AGORA_BIN`, else the debug build under `$CARGO_TARGET_DIR` (or the
workspace's `target/`): `cargo build -p agora` makes it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[3]
DEADLINE_SECS = 60.0
T = TypeVar("T")


def agora_bin() -> str:
    explicit = os.environ.get("AGORA_BIN")
    if explicit:
        return explicit
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    path = target / "debug" / "agora"
    if not path.exists():
        pytest.fail(f"no agora binary at {path}: run `cargo build -p agora`, or set AGORA_BIN")
    return str(path)


def eventually(what: str, check: Callable[[], Optional[T]], within: float = DEADLINE_SECS) -> T:
    """Polls ``check`` until it gives a value other than None (or False), within a deadline."""
    until = time.monotonic() + within
    while True:
        found = check()
        if found is not None and found is not False:
            return found
        if time.monotonic() > until:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def read_text(path: Path) -> Optional[str]:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not left within 10 s."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGCONT)  # a paused process does not answer SIGTERM
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Scratch:
    """A test's directory, open to the tasks (which run as `nobody` under root)."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="agora-sdk-"))
        self.path.chmod(0o777)
        self.processes: List[subprocess.Popen] = []

    def spawn(self, name: str, args: List[str], env: Optional[dict] = None) -> subprocess.Popen:
        process = subprocess.Popen(
            args,
            stdout=open(self.path / f"{name}.stdout", "wb"),
            stderr=open(self.path / f"{name}.stderr", "wb"),
            env={**os.environ, "AGORA_LOG": "info", **(env or {})},
        )
        self.processes.append(process)
        return process

    def close(self) -> None:
        for process in reversed(self.processes):
            stop(process)
        shutil.rmtree(self.path, ignore_errors=True)

    def token(self, data_dir: Path, kind: str, name: str) -> str:
        out = subprocess.run(
            [agora_bin(), "token", "issue", "--kind", kind, "--name", name, "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()


class Dev:
    """`agora dev` with its built-in agent: ``url``, ``token`` (the admin token), ``data_dir``."""

    def __init__(self, scratch: Scratch, resources: str = "cpus:4,mem:4096,disk:1024") -> None:
        self.scratch = scratch
        self.data_dir = scratch.path / "data"
        self.process = scratch.spawn(
            "dev",
            [
                agora_bin(),
                "dev",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                str(self.data_dir),
                "--agent-work-dir",
                str(scratch.path / "agent"),
                "--resources",
                resources,
            ],
        )
        self.url = eventually("agora dev to write its address", self._address)
        self.token = eventually("the admin token", lambda: read_text(self.data_dir / "admin.token"))

    def _address(self) -> Optional[str]:
        if self.process.poll() is not None:
            raise AssertionError("agora dev exited: " + (self.scratch.path / "dev.stderr").read_text())
        return read_text(self.data_dir / "address")


def start_server(scratch: Scratch, name: str, args: List[str]) -> Tuple[subprocess.Popen, str]:
    """Starts `agora server` on a free port and waits for the line that says where it listens."""
    process = scratch.spawn(name, [agora_bin(), "server", "--listen", "127.0.0.1:0", *args])
    stdout = scratch.path / f"{name}.stdout"
    prefix = "Agora server listening at "

    def listening() -> Optional[str]:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited: " + (scratch.path / f"{name}.stderr").read_text())
        lines = [line for line in (read_text(stdout) or "").splitlines() if line.startswith(prefix)]
        return lines[0][len(prefix):].strip() if lines else None

    return process, eventually(f"{name} to listen", listening)


class Replicas:
    """``n`` `agora server` replicas on one real `redis-server`, and one `agora agent`."""

    def __init__(self, scratch: Scratch, n: int = 2) -> None:
        self.scratch = scratch
        self.data_dir = scratch.path / "data"
        redis_port = free_port()
        redis_dir = scratch.path / "redis"
        redis_dir.mkdir()
        scratch.spawn(
            "redis",
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--dir", str(redis_dir),
             "--save", "", "--appendonly", "no"],
        )
        self.store = f"redis://127.0.0.1:{redis_port}/0?prefix=agora-sdk-test"
        self.servers: List[subprocess.Popen] = []
        self.urls: List[str] = []
        for index in range(n):
            # One at a time: the first makes the cluster key the others then read.
            self._start_server(index)
        self.token = scratch.token(self.data_dir, "operator", "admin")
        agent_token = scratch.path / "agent.token"
        agent_token.write_text(scratch.token(self.data_dir, "agent", "node-a"))
        scratch.spawn(
            "agent",
            [agora_bin(), "agent", "--master", ",".join(self.urls), "--resources", "cpus:4,mem:4096,disk:1024",
             "--hostname", "node-a", "--token-file", str(agent_token), "--work-dir",
             str(scratch.path / "agents" / "node-a")],
        )

    def _start_server(self, index: int) -> None:
        process, url = start_server(
            self.scratch,
            f"server{index}",
            ["--data-dir", str(self.data_dir), "--store", self.store, "--lease-ttl", "2",
             "--heartbeat-interval", "1", "--max-connections-per-address", "0"],
        )
        self.urls.append(url)
        self.servers.append(process)

    def kill(self, index: int) -> None:
        self.servers[index].kill()
        self.servers[index].wait()


@pytest.fixture
def scratch() -> Iterator[Scratch]:
    s = Scratch()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def dev(scratch: Scratch) -> Dev:
    return Dev(scratch)


@pytest.fixture
def replicas(scratch: Scratch) -> Replicas:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    return Replicas(scratch)


class Proxy:
    """A TCP proxy on 127.0.0.1 in front of ``upstream`` (``http://host:port``): ``url`` is its
    address, and ``cut()`` closes every connection through it (new ones are still let in), as a
    load balancer restarting or a network blip would."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.split("://", 1)[1].rsplit(":", 1)
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.sockets: List[socket.socket] = []
        self.lock = threading.Lock()
        self.cuts = 0
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, server]
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        with self.lock:
            sockets, self.sockets = self.sockets, []
            self.cuts += 1
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.listener.close()
        self.cut()


@pytest.fixture
def proxy_to() -> Iterator[Callable[[str], Proxy]]:
    proxies: List[Proxy] = []

    def make(upstream: str) -> Proxy:
        proxies.append(Proxy(upstream))
        return proxies[-1]

    yield make
    for p in proxies:
        p.close()
