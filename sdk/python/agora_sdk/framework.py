"""The blocking helper: :class:`Agora`, a client for a cluster (one server or several replicas),
and :class:`Framework`, a registered framework with its event stream.

Every call goes through the generated operations under :mod:`agora_sdk.api`; what is written
by hand is what a generator cannot do: failover between replicas, an event stream that resumes
with ``Last-Event-ID``, typed events and acknowledgements."""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any, Iterable, Iterator, List, Optional, Sequence, Union

import httpx
from httpx_sse import connect_sse

from . import _core
from .api.frameworks import (
    accept,
    acknowledge,
    decline,
    framework_events,
    kill_task,
    reconcile,
    register_framework,
    revive,
    suppress,
    teardown_framework,
)
from .client import AuthenticatedClient
from .events import Event
from .exceptions import AgoraError, Unreachable
from .models import Acknowledge, Reconciled, RegisterFramework, TaskStatus


class Agora:
    """A client for an Agora cluster.

    ``addr`` is a base URL (``https://agora.example:5050``), a comma-separated list of the API
    tier's replicas, or a sequence of them: a request that cannot connect to one goes to the
    next. ``ca`` is the CA file to check ``https`` servers against; ``cert`` and ``key`` a
    client certificate for servers that ask for one."""

    def __init__(
        self,
        addr: Union[str, Sequence[str]],
        token: str,
        ca: Optional[str] = None,
        *,
        cert: Optional[str] = None,
        key: Optional[str] = None,
        timeout: float = 30.0,
    ) -> None:
        bases = _core.parse_bases(addr)
        clients = _core.make_clients(bases, token, _core.tls_context(ca, cert, key), timeout)
        self._replicas = _core.Replicas(bases, clients)

    @classmethod
    def from_env(cls, **options: Any) -> "Agora":
        """A client for the server ``AGORA_ADDR`` names, with ``AGORA_TOKEN`` (or the file
        ``AGORA_TOKEN_FILE``) and ``AGORA_CA``; else for the ``agora dev`` on this machine,
        from the address and admin token it wrote to its data directory."""
        addr, token, ca = _core.settings_from_env()
        return cls(addr, token, ca, **options)

    @property
    def base_url(self) -> str:
        """The base URL of the replica requests go to now."""
        return self._replicas.bases[self._replicas.current]

    @property
    def client(self) -> AuthenticatedClient:
        """The generated client of the replica requests go to now, for any operation of
        :mod:`agora_sdk.api` (``list_tasks.sync(client=agora.client)``)."""
        return self._replicas.clients[self._replicas.current]

    def call(self, operation: ModuleType, *args: Any, **kwargs: Any) -> Any:
        """Calls a generated operation (a module of :mod:`agora_sdk.api`) on a replica that
        answers, and returns its value. Raises :class:`AgoraError` with the server's ``code``
        when it refuses, and :class:`Unreachable` when no replica answers."""
        last: Optional[BaseException] = None
        for index in self._replicas.attempts():
            try:
                client = self._replicas.clients[index]
                return _core.value(operation.sync_detailed(*args, client=client, **kwargs))
            except httpx.TransportError as error:
                if not _core.connect_failed(error):
                    raise
                self._replicas.failed(index)
                last = error
        raise Unreachable(self._replicas.bases, last) from last

    def register_framework(self, name: str, roles: Optional[List[str]] = None, **options: Any) -> "Framework":
        """Registers a framework and returns it. ``options`` are the other fields of
        ``RegisterFramework`` (``id`` to register again after a failover,
        ``failover_timeout_secs``, ``capabilities``, ``offer_filters``, ...)."""
        body = _core.registration(name, roles, options)
        registration = RegisterFramework.from_dict(body)
        registered = self.call(register_framework, body=registration)
        return Framework(self, registered.framework_id, {**body, "id": registered.framework_id})

    def close(self) -> None:
        for client in self._replicas.clients:
            client.get_httpx_client().close()

    def __enter__(self) -> "Agora":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Framework:
    """A registered framework: its event stream, and what it does with offers and tasks."""

    def __init__(self, agora: Agora, framework_id: str, registration: dict) -> None:
        self.agora = agora
        self.id = framework_id
        self._registration = registration

    def events(self, acknowledge: bool = False, max_reconnects: int = 60) -> Iterator[Event]:
        """The framework's events, typed, for as long as it lives.

        A broken stream is resumed after the last event read (``Last-Event-ID``), on the next
        replica if this one is gone, waiting up to a second between tries; after
        ``max_reconnects`` breaks in a row the last error is raised. A server that lost the
        framework gets it registered again under its id. With ``acknowledge``, each update with
        an ``update_id`` is acknowledged once the loop is done with it: when the next event is
        asked for, or the loop is left. An update is never lost, and may come twice. Ends with :class:`StreamEnded`
        when the server ends the stream for good (the framework was torn down)."""
        state = _core.StreamState(acknowledge, max_reconnects)
        while True:
            try:
                for event in self._read(state):
                    try:
                        yield event
                    finally:
                        # Handled: the next event was asked for, or the loop was left (the
                        # generator is closed), and an update handled last must not come again.
                        ack = state.take_acknowledgement()
                        if ack is not None:
                            self._acknowledge_quietly(ack)
                error: BaseException = ConnectionError("the event stream ended")
            except (httpx.TransportError, AgoraError, Unreachable) as broke:
                _core.raise_if_refused(broke)
                error = broke
            time.sleep(state.broke(error))

    def _read(self, state: _core.StreamState) -> Iterator[Event]:
        """The events of one connection, opened after the last event read."""
        last: Optional[BaseException] = None
        replicas = self.agora._replicas
        for index in replicas.attempts():
            request = framework_events._get_kwargs(self.id)
            try:
                with connect_sse(
                    replicas.clients[index].get_httpx_client(),
                    request["method"],
                    request["url"],
                    headers=state.headers(),
                    timeout=httpx.Timeout(30.0, read=_core.STREAM_READ_TIMEOUT_SECS),
                ) as source:
                    if source.response.status_code >= 400:
                        error = AgoraError.from_response(source.response.status_code, source.response.read())
                        if error.status == 404:
                            # The server lost the framework: register it again under its id.
                            self.agora.call(register_framework, body=RegisterFramework.from_dict(self._registration))
                            state.last_event_id = None
                        raise error
                    for sse in source.iter_sse():
                        event = state.read(sse.event, sse.data, sse.id)
                        if event is not None:
                            yield event
                    return
            except httpx.TransportError as error:
                if not _core.connect_failed(error):
                    raise
                replicas.failed(index)
                last = error
        raise Unreachable(replicas.bases, last) from last

    def _acknowledge_quietly(self, ack: Acknowledge) -> None:
        # Not fatal: the agent sends the update again, and it is acknowledged then.
        try:
            self.agora.call(acknowledge, self.id, body=ack)
        except (AgoraError, Unreachable, httpx.TransportError):
            pass

    def launch(self, offers: Any, tasks: Iterable[Any], refuse_secs: Optional[float] = None) -> None:
        """Launches ``tasks`` (``TaskInfo`` models or dicts) on ``offers`` (an offer, an offer id,
        or a list of them, all of one agent). A dict task without ``agent_id`` gets the offer's."""
        body = _core.accept_body(offers, list(tasks), refuse_secs)
        self.agora.call(accept, self.id, body=body)

    def decline(self, offers: Any, refuse_secs: Optional[float] = None) -> None:
        """Declines offers; their resources are not offered again for ``refuse_secs`` (5 s by
        default)."""
        self.agora.call(decline, self.id, body=_core.decline_body(offers, refuse_secs))

    def acknowledge(self, status: TaskStatus) -> None:
        """Acknowledges a status update (``events(acknowledge=True)`` does it for you)."""
        ack = _core.acknowledgement(status)
        if ack is not None:
            self.agora.call(acknowledge, self.id, body=ack)

    def kill(self, task_id: str, grace_period_secs: Optional[float] = None) -> None:
        """Kills a task: SIGTERM, then SIGKILL after its grace period (or this one)."""
        self.agora.call(kill_task, self.id, task_id, body=_core.kill_body(grace_period_secs))

    def reconcile(self, task_ids: Iterable[str] = ()) -> Reconciled:
        """Asks for the latest status of these tasks (all the framework's when empty); the
        answers come as ``update`` events too."""
        return self.agora.call(reconcile, self.id, body=_core.reconcile_body(task_ids))

    def revive(self, roles: Iterable[str] = ()) -> None:
        """Asks for offers again (for these roles, all when empty), clearing refuse filters."""
        self.agora.call(revive, self.id, body=_core.roles_body(roles))

    def suppress(self, roles: Iterable[str] = ()) -> None:
        """Stops offers (for these roles, all when empty) until a revive."""
        self.agora.call(suppress, self.id, body=_core.roles_body(roles))

    def teardown(self) -> None:
        """Kills the framework's tasks and forgets it."""
        self.agora.call(teardown_framework, self.id)
