"""The asyncio twin of :mod:`agora_sdk.framework`: :class:`AsyncAgora` and
:class:`AsyncFramework` do what :class:`~agora_sdk.Agora` and :class:`~agora_sdk.Framework` do,
with ``await`` and ``async for``."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any, AsyncIterator, Iterable, List, Optional, Sequence, Union

import httpx
from httpx_sse import aconnect_sse

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


class AsyncAgora:
    """A client for an Agora cluster, for asyncio. See :class:`agora_sdk.Agora`."""

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
    def from_env(cls, **options: Any) -> "AsyncAgora":
        """See :meth:`agora_sdk.Agora.from_env`."""
        addr, token, ca = _core.settings_from_env()
        return cls(addr, token, ca, **options)

    @property
    def base_url(self) -> str:
        """The base URL of the replica requests go to now."""
        return self._replicas.bases[self._replicas.current]

    @property
    def client(self) -> AuthenticatedClient:
        """The generated client of the replica requests go to now."""
        return self._replicas.clients[self._replicas.current]

    async def call(self, operation: ModuleType, *args: Any, **kwargs: Any) -> Any:
        """Calls a generated operation on a replica that answers and returns its value; raises
        :class:`AgoraError` when the server refuses, :class:`Unreachable` when none answers."""
        last: Optional[BaseException] = None
        for index in self._replicas.attempts():
            try:
                client = self._replicas.clients[index]
                return _core.value(await operation.asyncio_detailed(*args, client=client, **kwargs))
            except httpx.TransportError as error:
                if not _core.connect_failed(error):
                    raise
                self._replicas.failed(index)
                last = error
        raise Unreachable(self._replicas.bases, last) from last

    async def register_framework(
        self, name: str, roles: Optional[List[str]] = None, **options: Any
    ) -> "AsyncFramework":
        """Registers a framework and returns it. See :meth:`agora_sdk.Agora.register_framework`."""
        body = _core.registration(name, roles, options)
        registered = await self.call(register_framework, body=RegisterFramework.from_dict(body))
        return AsyncFramework(self, registered.framework_id, {**body, "id": registered.framework_id})

    async def aclose(self) -> None:
        for client in self._replicas.clients:
            await client.get_async_httpx_client().aclose()

    async def __aenter__(self) -> "AsyncAgora":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


class AsyncFramework:
    """A registered framework, for asyncio. See :class:`agora_sdk.Framework`."""

    def __init__(self, agora: AsyncAgora, framework_id: str, registration: dict) -> None:
        self.agora = agora
        self.id = framework_id
        self._registration = registration

    async def events(self, acknowledge: bool = False, max_reconnects: int = 60) -> AsyncIterator[Event]:
        """The framework's events, typed; see :meth:`agora_sdk.Framework.events`."""
        state = _core.StreamState(acknowledge, max_reconnects)
        while True:
            try:
                async for event in self._read(state):
                    try:
                        yield event
                    finally:
                        ack = state.take_acknowledgement()
                        if ack is not None:
                            await self._acknowledge_quietly(ack)
                error: BaseException = ConnectionError("the event stream ended")
            except (httpx.TransportError, AgoraError, Unreachable) as broke:
                _core.raise_if_refused(broke)
                error = broke
            await asyncio.sleep(state.broke(error))

    async def _read(self, state: _core.StreamState) -> AsyncIterator[Event]:
        last: Optional[BaseException] = None
        replicas = self.agora._replicas
        for index in replicas.attempts():
            request = framework_events._get_kwargs(self.id)
            try:
                async with aconnect_sse(
                    replicas.clients[index].get_async_httpx_client(),
                    request["method"],
                    request["url"],
                    headers=state.headers(),
                    timeout=httpx.Timeout(30.0, read=_core.STREAM_READ_TIMEOUT_SECS),
                ) as source:
                    if source.response.status_code >= 400:
                        body = await source.response.aread()
                        error = AgoraError.from_response(source.response.status_code, body)
                        if error.status == 404:
                            registration = RegisterFramework.from_dict(self._registration)
                            await self.agora.call(register_framework, body=registration)
                            state.last_event_id = None
                        raise error
                    async for sse in source.aiter_sse():
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

    async def _acknowledge_quietly(self, ack: Acknowledge) -> None:
        try:
            await self.agora.call(acknowledge, self.id, body=ack)
        except (AgoraError, Unreachable, httpx.TransportError):
            pass

    async def launch(self, offers: Any, tasks: Iterable[Any], refuse_secs: Optional[float] = None) -> None:
        """See :meth:`agora_sdk.Framework.launch`."""
        body = _core.accept_body(offers, list(tasks), refuse_secs)
        await self.agora.call(accept, self.id, body=body)

    async def decline(self, offers: Any, refuse_secs: Optional[float] = None) -> None:
        """See :meth:`agora_sdk.Framework.decline`."""
        await self.agora.call(decline, self.id, body=_core.decline_body(offers, refuse_secs))

    async def acknowledge(self, status: TaskStatus) -> None:
        """See :meth:`agora_sdk.Framework.acknowledge`."""
        ack = _core.acknowledgement(status)
        if ack is not None:
            await self.agora.call(acknowledge, self.id, body=ack)

    async def kill(self, task_id: str, grace_period_secs: Optional[float] = None) -> None:
        """See :meth:`agora_sdk.Framework.kill`."""
        await self.agora.call(kill_task, self.id, task_id, body=_core.kill_body(grace_period_secs))

    async def reconcile(self, task_ids: Iterable[str] = ()) -> Reconciled:
        """See :meth:`agora_sdk.Framework.reconcile`."""
        return await self.agora.call(reconcile, self.id, body=_core.reconcile_body(task_ids))

    async def revive(self, roles: Iterable[str] = ()) -> None:
        """See :meth:`agora_sdk.Framework.revive`."""
        await self.agora.call(revive, self.id, body=_core.roles_body(roles))

    async def suppress(self, roles: Iterable[str] = ()) -> None:
        """See :meth:`agora_sdk.Framework.suppress`."""
        await self.agora.call(suppress, self.id, body=_core.roles_body(roles))

    async def teardown(self) -> None:
        """See :meth:`agora_sdk.Framework.teardown`."""
        await self.agora.call(teardown_framework, self.id)
