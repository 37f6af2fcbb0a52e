"""Typed events of a framework's stream (``GET /v1/frameworks/{id}/events``).

Each event is the generated model of its ``data`` (the schema the document names in the event's
``contentSchema``) with two fields more: ``type``, the event's name, and ``id``, the id to
resume after. So ``event.type == "offers"`` narrows an :data:`Event` to :class:`OffersEvent`,
and ``event.offers[0].resources.cpus`` is typed.
"""

from __future__ import annotations

import json
from typing import Dict, Literal, Optional, Type, Union

from attrs import define

from .exceptions import StreamEnded
from .models.failure import Failure
from .models.inverse_offers import InverseOffers
from .models.offers import Offers
from .models.rescind import Rescind
from .models.subscribed import Subscribed
from .models.update import Update


@define
class SubscribedEvent(Subscribed):
    """The first event of each connection: the framework's id and the heartbeat interval."""

    type: Literal["subscribed"] = "subscribed"
    id: Optional[str] = None


@define
class OffersEvent(Offers):
    """Resources offered to the framework: accept them with tasks, or decline them."""

    type: Literal["offers"] = "offers"
    id: Optional[str] = None


@define
class InverseOffersEvent(InverseOffers):
    """Agents being drained: move the tasks off them before the deadline."""

    type: Literal["inverse_offers"] = "inverse_offers"
    id: Optional[str] = None


@define
class RescindEvent(Rescind):
    """An offer (or inverse offer) taken back: it can no longer be used."""

    type: Literal["rescind"] = "rescind"
    id: Optional[str] = None


@define
class UpdateEvent(Update):
    """A task's status changed; ``status.update_id``, when set, is to be acknowledged."""

    type: Literal["update"] = "update"
    id: Optional[str] = None


@define
class FailureEvent(Failure):
    """An agent the framework had tasks on was lost."""

    type: Literal["failure"] = "failure"
    id: Optional[str] = None


@define
class HeartbeatEvent:
    """Sent every ``heartbeat_interval_secs`` so that a dead connection is noticed."""

    type: Literal["heartbeat"] = "heartbeat"
    id: Optional[str] = None


Event = Union[
    SubscribedEvent,
    OffersEvent,
    InverseOffersEvent,
    RescindEvent,
    UpdateEvent,
    FailureEvent,
    HeartbeatEvent,
]
"""One event of a framework's stream; ``type`` tells which."""

# By event name. A test checks this against the document's `contentSchema` of each event.
EVENT_TYPES: Dict[str, Type[Event]] = {
    "subscribed": SubscribedEvent,
    "offers": OffersEvent,
    "inverse_offers": InverseOffersEvent,
    "rescind": RescindEvent,
    "update": UpdateEvent,
    "failure": FailureEvent,
    "heartbeat": HeartbeatEvent,
}


def decode(name: str, data: str, event_id: Optional[str] = None) -> Optional[Event]:
    """The typed event of an SSE message, or ``None`` for an event this version does not know.

    Raises :class:`StreamEnded` for the ``error`` event, with which the server ends a stream.
    """
    if name == "error":
        body = json.loads(data)
        raise StreamEnded(str(body.get("code", "error")), str(body.get("message", "")))
    kind = EVENT_TYPES.get(name)
    if kind is None:
        return None
    if kind is HeartbeatEvent:
        return HeartbeatEvent(id=event_id or None)
    event = kind.from_dict(json.loads(data))  # type: ignore[union-attr]
    event.id = event_id or None
    return event
