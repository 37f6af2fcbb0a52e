"""What the blocking and the asyncio helpers share: finding the server and the token, the
replicas and the failover between them, turning answers into values or errors, and the state of
an event stream that resumes. No I/O happens here."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

import httpx

from .client import AuthenticatedClient
from .events import Event, UpdateEvent, decode
from .exceptions import AgoraError, StreamEnded
from .models import Accept, Acknowledge, Decline, Kill, Reconcile, Roles, TaskStatus
from .models.error_body import ErrorBody
from .types import Response

# Codes with which a server ends a stream that the framework recovers from by resuming: the
# store was briefly unavailable, or the server lost the framework, which registers again.
RESUMABLE = frozenset({"unknown_framework", "store_unavailable"})

# The wait before each reconnect grows by this much, up to ten times it.
BACKOFF_STEP_SECS = 0.1

# Stream reads wait this long for a byte: several heartbeats (15 s apart by default).
STREAM_READ_TIMEOUT_SECS = 60.0


def parse_bases(addr: Union[str, Sequence[str]]) -> List[str]:
    """Base URLs from one URL, a comma-separated list of them, or a sequence: ``127.0.0.1:5050``
    means ``http://127.0.0.1:5050``, and a trailing slash is dropped."""
    parts = addr.split(",") if isinstance(addr, str) else list(addr)
    bases = []
    for part in parts:
        base = part.strip().rstrip("/")
        if not base:
            continue
        if "://" not in base:
            base = "http://" + base
        url = urlsplit(base)
        if url.scheme not in ("http", "https") or not url.netloc or url.query or url.fragment:
            raise ValueError(f"{base!r} is not a base URL: give http(s)://HOST:PORT")
        bases.append(base)
    if not bases:
        raise ValueError("no server URL given")
    return bases


def default_data_dir() -> Path:
    """Where ``agora dev`` writes its address and admin token, as the CLI finds it."""
    explicit = os.environ.get("AGORA_DATA_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg) / "agora"
    return Path.home() / ".local" / "share" / "agora"


def settings_from_env() -> Tuple[str, str, Optional[str]]:
    """The address, token and CA file, found as the CLI finds them: ``AGORA_ADDR``,
    ``AGORA_TOKEN`` (or the file ``AGORA_TOKEN_FILE`` names) and ``AGORA_CA``, else the files
    ``agora dev`` writes to its data directory (``AGORA_DATA_DIR``, by default
    ``~/.local/share/agora``)."""
    data_dir = default_data_dir()
    addr = os.environ.get("AGORA_ADDR") or _read(data_dir / "address")
    if not addr:
        raise ValueError("no server found: start one with `agora dev`, or set AGORA_ADDR")
    token_file = os.environ.get("AGORA_TOKEN_FILE")
    if token_file:
        token = _read(Path(token_file))
    else:
        token = os.environ.get("AGORA_TOKEN") or _read(data_dir / "admin.token")
    if not token:
        raise ValueError("no token found: set AGORA_TOKEN or AGORA_TOKEN_FILE, or run `agora dev`")
    return addr, token, os.environ.get("AGORA_CA") or None


def _read(path: Path) -> Optional[str]:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def tls_context(ca: Optional[str], cert: Optional[str], key: Optional[str]) -> Union[bool, ssl.SSLContext]:
    """What httpx verifies servers with: the system's roots, or only ``ca``; with a client
    certificate (and its key) for servers that ask for one."""
    if ca is None and cert is None:
        return True
    context = ssl.create_default_context(cafile=ca)
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


def make_clients(bases: List[str], token: str, verify: Union[bool, ssl.SSLContext], timeout: float) -> List[AuthenticatedClient]:
    return [
        AuthenticatedClient(base_url=base, token=token, verify_ssl=verify, timeout=httpx.Timeout(timeout))
        for base in bases
    ]


class Replicas:
    """The replicas of the API tier and the one requests go to now. A request that cannot
    connect never arrived, so it is sent to the next; the next requests start there."""

    def __init__(self, bases: List[str], clients: List[AuthenticatedClient]) -> None:
        self.bases = bases
        self.clients = clients
        self.current = 0

    def attempts(self) -> List[int]:
        """The replicas to try for one request, in order, starting with the current one."""
        return [(self.current + i) % len(self.bases) for i in range(len(self.bases))]

    def failed(self, index: int) -> None:
        if self.current == index:
            self.current = (index + 1) % len(self.bases)


def connect_failed(error: BaseException) -> bool:
    """Whether a request failed before it reached a server (so sending it again is safe)."""
    return isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout))


def value(response: Response[Any]) -> Any:
    """The parsed value of a 2xx answer, or the server's error raised as :class:`AgoraError`."""
    status = int(response.status_code)
    if status >= 400 or isinstance(response.parsed, ErrorBody):
        raise AgoraError.from_response(status, response.content)
    return response.parsed


# The request bodies of the helpers' calls, the same for the blocking and the asyncio ones.


def registration(name: str, roles: Optional[List[str]], options: Dict[str, Any]) -> Dict[str, Any]:
    """A registration as JSON, kept to register again under the same id."""
    return {"name": name, **({"roles": roles} if roles is not None else {}), **options}


def _offer_ids(offers: Any) -> List[str]:
    """Offer ids from an offer, an id, or a sequence of either."""
    items = offers if isinstance(offers, (list, tuple)) else [offers]
    return [item if isinstance(item, str) else item.id for item in items]


def _task_dicts(offers: Any, tasks: Sequence[Any]) -> List[Dict[str, Any]]:
    """Tasks as JSON, given as generated ``TaskInfo`` models or dicts; a dict without an
    ``agent_id`` gets the first offer's."""
    first = offers[0] if isinstance(offers, (list, tuple)) else offers
    agent_id = None if isinstance(first, str) else first.agent_id
    out = []
    for task in tasks:
        body = dict(task) if isinstance(task, dict) else task.to_dict()
        if "agent_id" not in body and agent_id is not None:
            body["agent_id"] = agent_id
        out.append(body)
    return out


def _filters(refuse_secs: Optional[float]) -> Dict[str, Any]:
    return {} if refuse_secs is None else {"filters": {"refuse_secs": refuse_secs}}


def accept_body(offers: Any, tasks: Sequence[Any], refuse_secs: Optional[float]) -> Accept:
    body = {
        "offer_ids": _offer_ids(offers),
        "operations": [{"type": "launch", "tasks": _task_dicts(offers, tasks)}],
        **_filters(refuse_secs),
    }
    return Accept.from_dict(body)


def decline_body(offers: Any, refuse_secs: Optional[float]) -> Decline:
    return Decline.from_dict({"offer_ids": _offer_ids(offers), **_filters(refuse_secs)})


def kill_body(grace_period_secs: Optional[float]) -> Kill:
    return Kill.from_dict({} if grace_period_secs is None else {"grace_period_secs": grace_period_secs})


def reconcile_body(task_ids: Iterable[str]) -> Reconcile:
    return Reconcile.from_dict({"tasks": [{"task_id": t} for t in task_ids]})


def roles_body(roles: Iterable[str]) -> Roles:
    return Roles.from_dict({"roles": list(roles)})


def acknowledgement(status: TaskStatus) -> Optional[Acknowledge]:
    """What acknowledges a status update; ``None`` for one without an ``update_id``."""
    if not isinstance(status.update_id, str):
        return None
    return Acknowledge(task_id=status.task_id, agent_id=status.agent_id, update_id=status.update_id)


def raise_if_refused(error: BaseException) -> None:
    """Raises a refusal that resuming cannot cure: a bad token, a forbidden framework. A lost
    framework (404), too many requests (429) and server errors are tried again."""
    if isinstance(error, AgoraError) and not isinstance(error, StreamEnded):
        if 400 <= error.status < 500 and error.status not in (404, 429):
            raise error


class StreamState:
    """Where a framework's stream stands: the id of the last event read (to resume after), the
    update handed out and not yet acknowledged, and the breaks in a row."""

    def __init__(self, acknowledge: bool, max_reconnects: int) -> None:
        self.acknowledge = acknowledge
        self.max_reconnects = max_reconnects
        self.last_event_id: Optional[str] = None
        self.unacknowledged: Optional[Acknowledge] = None
        self.reconnects = 0

    def take_acknowledgement(self) -> Optional[Acknowledge]:
        """The update to acknowledge now that the next event is asked for: it was handled."""
        ack, self.unacknowledged = self.unacknowledged, None
        return ack

    def read(self, name: str, data: str, event_id: str) -> Optional[Event]:
        """The typed event of one SSE message (``None``: unknown, skipped). Raises
        :class:`StreamEnded` when the server ended the stream."""
        event = decode(name, data, event_id)
        if event is None:
            return None
        if event_id:
            self.last_event_id = event_id
        self.reconnects = 0
        if self.acknowledge and isinstance(event, UpdateEvent):
            self.unacknowledged = acknowledgement(event.status)
        return event

    def broke(self, error: BaseException) -> float:
        """The wait before resuming after ``error``; raises it when the stream is over for good:
        the server ended it, or it broke ``max_reconnects`` times in a row."""
        if isinstance(error, StreamEnded) and error.code not in RESUMABLE:
            raise error
        self.reconnects += 1
        if self.reconnects > self.max_reconnects:
            raise error
        return BACKOFF_STEP_SECS * min(self.reconnects, 10)

    def headers(self) -> Dict[str, str]:
        return {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}
