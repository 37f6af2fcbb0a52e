from http import HTTPStatus
from typing import Any, Optional, Union

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.error_body import ErrorBody
from ...models.framework_error_event import FrameworkErrorEvent
from ...models.framework_failure_event import FrameworkFailureEvent
from ...models.framework_heartbeat_event import FrameworkHeartbeatEvent
from ...models.framework_inverse_offers_event import FrameworkInverseOffersEvent
from ...models.framework_offers_event import FrameworkOffersEvent
from ...models.framework_rescind_event import FrameworkRescindEvent
from ...models.framework_subscribed_event import FrameworkSubscribedEvent
from ...models.framework_update_event import FrameworkUpdateEvent
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
        "url": "/v1/frameworks/{id}/events".format(
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
            "FrameworkErrorEvent",
            "FrameworkFailureEvent",
            "FrameworkHeartbeatEvent",
            "FrameworkInverseOffersEvent",
            "FrameworkOffersEvent",
            "FrameworkRescindEvent",
            "FrameworkSubscribedEvent",
            "FrameworkUpdateEvent",
        ],
    ]
]:
    if response.status_code == 200:

        def _parse_response_200(
            data: object,
        ) -> Union[
            "FrameworkErrorEvent",
            "FrameworkFailureEvent",
            "FrameworkHeartbeatEvent",
            "FrameworkInverseOffersEvent",
            "FrameworkOffersEvent",
            "FrameworkRescindEvent",
            "FrameworkSubscribedEvent",
            "FrameworkUpdateEvent",
        ]:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_framework_stream_event_type_0 = (
                    FrameworkSubscribedEvent.from_dict(data)
                )

                return componentsschemas_framework_stream_event_type_0
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_framework_stream_event_type_1 = (
                    FrameworkOffersEvent.from_dict(data)
                )

                return componentsschemas_framework_stream_event_type_1
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_framework_stream_event_type_2 = (
                    FrameworkInverseOffersEvent.from_dict(data)
                )

                return componentsschemas_framework_stream_event_type_2
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_framework_stream_event_type_3 = (
                    FrameworkRescindEvent.from_dict(data)
                )

                return componentsschemas_framework_stream_event_type_3
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_framework_stream_event_type_4 = (
                    FrameworkUpdateEvent.from_dict(data)
                )

                return componentsschemas_framework_stream_event_type_4
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_framework_stream_event_type_5 = (
                    FrameworkFailureEvent.from_dict(data)
                )

                return componentsschemas_framework_stream_event_type_5
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_framework_stream_event_type_6 = (
                    FrameworkErrorEvent.from_dict(data)
                )

                return componentsschemas_framework_stream_event_type_6
            except:  # noqa: E722
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_framework_stream_event_type_7 = (
                FrameworkHeartbeatEvent.from_dict(data)
            )

            return componentsschemas_framework_stream_event_type_7

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
            "FrameworkErrorEvent",
            "FrameworkFailureEvent",
            "FrameworkHeartbeatEvent",
            "FrameworkInverseOffersEvent",
            "FrameworkOffersEvent",
            "FrameworkRescindEvent",
            "FrameworkSubscribedEvent",
            "FrameworkUpdateEvent",
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
            "FrameworkErrorEvent",
            "FrameworkFailureEvent",
            "FrameworkHeartbeatEvent",
            "FrameworkInverseOffersEvent",
            "FrameworkOffersEvent",
            "FrameworkRescindEvent",
            "FrameworkSubscribedEvent",
            "FrameworkUpdateEvent",
        ],
    ]
]:
    """A Server-Sent Events stream. Every event has an `id:`; reconnect with `Last-Event-ID` to resume.

    Args:
        id (str): A framework's id, minted at registration and kept across failovers: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        last_event_id (Union[None, Unset, str]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorBody, Union['FrameworkErrorEvent', 'FrameworkFailureEvent', 'FrameworkHeartbeatEvent', 'FrameworkInverseOffersEvent', 'FrameworkOffersEvent', 'FrameworkRescindEvent', 'FrameworkSubscribedEvent', 'FrameworkUpdateEvent']]]
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
            "FrameworkErrorEvent",
            "FrameworkFailureEvent",
            "FrameworkHeartbeatEvent",
            "FrameworkInverseOffersEvent",
            "FrameworkOffersEvent",
            "FrameworkRescindEvent",
            "FrameworkSubscribedEvent",
            "FrameworkUpdateEvent",
        ],
    ]
]:
    """A Server-Sent Events stream. Every event has an `id:`; reconnect with `Last-Event-ID` to resume.

    Args:
        id (str): A framework's id, minted at registration and kept across failovers: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        last_event_id (Union[None, Unset, str]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorBody, Union['FrameworkErrorEvent', 'FrameworkFailureEvent', 'FrameworkHeartbeatEvent', 'FrameworkInverseOffersEvent', 'FrameworkOffersEvent', 'FrameworkRescindEvent', 'FrameworkSubscribedEvent', 'FrameworkUpdateEvent']]
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
            "FrameworkErrorEvent",
            "FrameworkFailureEvent",
            "FrameworkHeartbeatEvent",
            "FrameworkInverseOffersEvent",
            "FrameworkOffersEvent",
            "FrameworkRescindEvent",
            "FrameworkSubscribedEvent",
            "FrameworkUpdateEvent",
        ],
    ]
]:
    """A Server-Sent Events stream. Every event has an `id:`; reconnect with `Last-Event-ID` to resume.

    Args:
        id (str): A framework's id, minted at registration and kept across failovers: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        last_event_id (Union[None, Unset, str]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorBody, Union['FrameworkErrorEvent', 'FrameworkFailureEvent', 'FrameworkHeartbeatEvent', 'FrameworkInverseOffersEvent', 'FrameworkOffersEvent', 'FrameworkRescindEvent', 'FrameworkSubscribedEvent', 'FrameworkUpdateEvent']]]
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
            "FrameworkErrorEvent",
            "FrameworkFailureEvent",
            "FrameworkHeartbeatEvent",
            "FrameworkInverseOffersEvent",
            "FrameworkOffersEvent",
            "FrameworkRescindEvent",
            "FrameworkSubscribedEvent",
            "FrameworkUpdateEvent",
        ],
    ]
]:
    """A Server-Sent Events stream. Every event has an `id:`; reconnect with `Last-Event-ID` to resume.

    Args:
        id (str): A framework's id, minted at registration and kept across failovers: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        last_event_id (Union[None, Unset, str]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorBody, Union['FrameworkErrorEvent', 'FrameworkFailureEvent', 'FrameworkHeartbeatEvent', 'FrameworkInverseOffersEvent', 'FrameworkOffersEvent', 'FrameworkRescindEvent', 'FrameworkSubscribedEvent', 'FrameworkUpdateEvent']]
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            last_event_id=last_event_id,
        )
    ).parsed
