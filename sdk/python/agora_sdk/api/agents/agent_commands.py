from http import HTTPStatus
from typing import Any, Optional, Union

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.agent_acknowledge_event import AgentAcknowledgeEvent
from ...models.agent_destroy_volume_event import AgentDestroyVolumeEvent
from ...models.agent_error_event import AgentErrorEvent
from ...models.agent_kill_event import AgentKillEvent
from ...models.agent_launch_event import AgentLaunchEvent
from ...models.agent_ping_event import AgentPingEvent
from ...models.agent_read_log_event import AgentReadLogEvent
from ...models.agent_shutdown_event import AgentShutdownEvent
from ...models.error_body import ErrorBody
from ...types import Unset


def _get_kwargs(
    id: str,
    *,
    last_event_id: Union[None, Unset, str] = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(last_event_id, Unset):
        headers["Last-Event-ID"] = last_event_id

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/agents/{id}/commands".format(
            id=id,
        ),
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: Union[AuthenticatedClient, Client], response: httpx.Response
) -> Optional[
    Union[
        ErrorBody,
        Union[
            "AgentAcknowledgeEvent",
            "AgentDestroyVolumeEvent",
            "AgentErrorEvent",
            "AgentKillEvent",
            "AgentLaunchEvent",
            "AgentPingEvent",
            "AgentReadLogEvent",
            "AgentShutdownEvent",
        ],
    ]
]:
    if response.status_code == 200:

        def _parse_response_200(
            data: object,
        ) -> Union[
            "AgentAcknowledgeEvent",
            "AgentDestroyVolumeEvent",
            "AgentErrorEvent",
            "AgentKillEvent",
            "AgentLaunchEvent",
            "AgentPingEvent",
            "AgentReadLogEvent",
            "AgentShutdownEvent",
        ]:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_agent_stream_command_type_0 = (
                    AgentLaunchEvent.from_dict(data)
                )

                return componentsschemas_agent_stream_command_type_0
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_agent_stream_command_type_1 = (
                    AgentKillEvent.from_dict(data)
                )

                return componentsschemas_agent_stream_command_type_1
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_agent_stream_command_type_2 = (
                    AgentAcknowledgeEvent.from_dict(data)
                )

                return componentsschemas_agent_stream_command_type_2
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_agent_stream_command_type_3 = (
                    AgentReadLogEvent.from_dict(data)
                )

                return componentsschemas_agent_stream_command_type_3
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_agent_stream_command_type_4 = (
                    AgentDestroyVolumeEvent.from_dict(data)
                )

                return componentsschemas_agent_stream_command_type_4
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_agent_stream_command_type_5 = (
                    AgentShutdownEvent.from_dict(data)
                )

                return componentsschemas_agent_stream_command_type_5
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_agent_stream_command_type_6 = (
                    AgentPingEvent.from_dict(data)
                )

                return componentsschemas_agent_stream_command_type_6
            except:  # noqa: E722
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_agent_stream_command_type_7 = AgentErrorEvent.from_dict(
                data
            )

            return componentsschemas_agent_stream_command_type_7

        response_200 = _parse_response_200(response.text)

        return response_200

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorBody.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = ErrorBody.from_dict(response.json())

        return response_404

    if response.status_code == 429:
        response_429 = ErrorBody.from_dict(response.json())

        return response_429

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: Union[AuthenticatedClient, Client], response: httpx.Response
) -> Response[
    Union[
        ErrorBody,
        Union[
            "AgentAcknowledgeEvent",
            "AgentDestroyVolumeEvent",
            "AgentErrorEvent",
            "AgentKillEvent",
            "AgentLaunchEvent",
            "AgentPingEvent",
            "AgentReadLogEvent",
            "AgentShutdownEvent",
        ],
    ]
]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    last_event_id: Union[None, Unset, str] = UNSET,
) -> Response[
    Union[
        ErrorBody,
        Union[
            "AgentAcknowledgeEvent",
            "AgentDestroyVolumeEvent",
            "AgentErrorEvent",
            "AgentKillEvent",
            "AgentLaunchEvent",
            "AgentPingEvent",
            "AgentReadLogEvent",
            "AgentShutdownEvent",
        ],
    ]
]:
    """A Server-Sent Events stream. Every event has an `id:`; reconnect with `Last-Event-ID` to resume.

    Args:
        id (str): An agent's id, minted at its first registration and kept across its restarts: 1
            to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        last_event_id (Union[None, Unset, str]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorBody, Union['AgentAcknowledgeEvent', 'AgentDestroyVolumeEvent', 'AgentErrorEvent', 'AgentKillEvent', 'AgentLaunchEvent', 'AgentPingEvent', 'AgentReadLogEvent', 'AgentShutdownEvent']]]
    """

    kwargs = _get_kwargs(
        id=id,
        last_event_id=last_event_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: str,
    *,
    client: AuthenticatedClient,
    last_event_id: Union[None, Unset, str] = UNSET,
) -> Optional[
    Union[
        ErrorBody,
        Union[
            "AgentAcknowledgeEvent",
            "AgentDestroyVolumeEvent",
            "AgentErrorEvent",
            "AgentKillEvent",
            "AgentLaunchEvent",
            "AgentPingEvent",
            "AgentReadLogEvent",
            "AgentShutdownEvent",
        ],
    ]
]:
    """A Server-Sent Events stream. Every event has an `id:`; reconnect with `Last-Event-ID` to resume.

    Args:
        id (str): An agent's id, minted at its first registration and kept across its restarts: 1
            to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        last_event_id (Union[None, Unset, str]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorBody, Union['AgentAcknowledgeEvent', 'AgentDestroyVolumeEvent', 'AgentErrorEvent', 'AgentKillEvent', 'AgentLaunchEvent', 'AgentPingEvent', 'AgentReadLogEvent', 'AgentShutdownEvent']]
    """

    return sync_detailed(
        id=id,
        client=client,
        last_event_id=last_event_id,
    ).parsed


async def asyncio_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    last_event_id: Union[None, Unset, str] = UNSET,
) -> Response[
    Union[
        ErrorBody,
        Union[
            "AgentAcknowledgeEvent",
            "AgentDestroyVolumeEvent",
            "AgentErrorEvent",
            "AgentKillEvent",
            "AgentLaunchEvent",
            "AgentPingEvent",
            "AgentReadLogEvent",
            "AgentShutdownEvent",
        ],
    ]
]:
    """A Server-Sent Events stream. Every event has an `id:`; reconnect with `Last-Event-ID` to resume.

    Args:
        id (str): An agent's id, minted at its first registration and kept across its restarts: 1
            to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        last_event_id (Union[None, Unset, str]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorBody, Union['AgentAcknowledgeEvent', 'AgentDestroyVolumeEvent', 'AgentErrorEvent', 'AgentKillEvent', 'AgentLaunchEvent', 'AgentPingEvent', 'AgentReadLogEvent', 'AgentShutdownEvent']]]
    """

    kwargs = _get_kwargs(
        id=id,
        last_event_id=last_event_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: str,
    *,
    client: AuthenticatedClient,
    last_event_id: Union[None, Unset, str] = UNSET,
) -> Optional[
    Union[
        ErrorBody,
        Union[
            "AgentAcknowledgeEvent",
            "AgentDestroyVolumeEvent",
            "AgentErrorEvent",
            "AgentKillEvent",
            "AgentLaunchEvent",
            "AgentPingEvent",
            "AgentReadLogEvent",
            "AgentShutdownEvent",
        ],
    ]
]:
    """A Server-Sent Events stream. Every event has an `id:`; reconnect with `Last-Event-ID` to resume.

    Args:
        id (str): An agent's id, minted at its first registration and kept across its restarts: 1
            to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        last_event_id (Union[None, Unset, str]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorBody, Union['AgentAcknowledgeEvent', 'AgentDestroyVolumeEvent', 'AgentErrorEvent', 'AgentKillEvent', 'AgentLaunchEvent', 'AgentPingEvent', 'AgentReadLogEvent', 'AgentShutdownEvent']]
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            last_event_id=last_event_id,
        )
    ).parsed
