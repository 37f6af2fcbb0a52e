"""Agora's Python SDK.

- :class:`Agora` / :class:`AsyncAgora`: a client for a cluster (one server or its replicas).
- :class:`Framework` / :class:`AsyncFramework`: a registered framework, its typed event stream
  (resumed with ``Last-Event-ID``, failed over between replicas, updates acknowledged), and
  ``launch``, ``decline``, ``kill``, ``reconcile``, ``teardown``.
- :mod:`agora_sdk.api` and :mod:`agora_sdk.models`: every operation and schema of the API,
  generated from its OpenAPI document by openapi-python-client.
"""

from .aio import AsyncAgora, AsyncFramework
from .client import AuthenticatedClient, Client
from .events import (
    Event,
    FailureEvent,
    HeartbeatEvent,
    InverseOffersEvent,
    OffersEvent,
    RescindEvent,
    SubscribedEvent,
    UpdateEvent,
)
from .exceptions import AgoraError, StreamEnded, Unreachable
from .framework import Agora, Framework

# Written by sdk/generate from the workspace's version.
__version__ = "0.1.0"

__all__ = (
    "Agora",
    "AgoraError",
    "AsyncAgora",
    "AsyncFramework",
    "AuthenticatedClient",
    "Client",
    "Event",
    "FailureEvent",
    "Framework",
    "HeartbeatEvent",
    "InverseOffersEvent",
    "OffersEvent",
    "RescindEvent",
    "StreamEnded",
    "SubscribedEvent",
    "Unreachable",
    "UpdateEvent",
)
