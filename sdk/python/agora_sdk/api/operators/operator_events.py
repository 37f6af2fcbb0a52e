from http import HTTPStatus
from typing import Any, Optional, Union

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.error_body import ErrorBody
from ...models.operator_agent_added_event import OperatorAgentAddedEvent
from ...models.operator_agent_removed_event import OperatorAgentRemovedEvent
from ...models.operator_agent_unreachable_event import OperatorAgentUnreachableEvent
from ...models.operator_autoscaler_event import OperatorAutoscalerEvent
from ...models.operator_deployment_failed_event import OperatorDeploymentFailedEvent
from ...models.operator_deployment_finished_event import OperatorDeploymentFinishedEvent
from ...models.operator_deployment_started_event import OperatorDeploymentStartedEvent
from ...models.operator_deployment_step_event import OperatorDeploymentStepEvent
from ...models.operator_endpoints_changed_event import OperatorEndpointsChangedEvent
from ...models.operator_error_event import OperatorErrorEvent
from ...models.operator_framework_added_event import OperatorFrameworkAddedEvent
from ...models.operator_framework_removed_event import OperatorFrameworkRemovedEvent
from ...models.operator_heartbeat_event import OperatorHeartbeatEvent
from ...models.operator_service_updated_event import OperatorServiceUpdatedEvent
from ...models.operator_task_updated_event import OperatorTaskUpdatedEvent
from ...types import Unset


def _get_kwargs(
    *,
    last_event_id: Union[None, Unset, str] = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(last_event_id, Unset):
        headers["Last-Event-ID"] = last_event_id

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/events",
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: Union[AuthenticatedClient, Client], response: httpx.Response
) -> Optional[
    Union[
        ErrorBody,
        Union[
            "OperatorAgentAddedEvent",
            "OperatorAgentRemovedEvent",
            "OperatorAgentUnreachableEvent",
            "OperatorAutoscalerEvent",
            "OperatorDeploymentFailedEvent",
            "OperatorDeploymentFinishedEvent",
            "OperatorDeploymentStartedEvent",
            "OperatorDeploymentStepEvent",
            "OperatorEndpointsChangedEvent",
            "OperatorErrorEvent",
            "OperatorFrameworkAddedEvent",
            "OperatorFrameworkRemovedEvent",
            "OperatorHeartbeatEvent",
            "OperatorServiceUpdatedEvent",
            "OperatorTaskUpdatedEvent",
        ],
    ]
]:
    if response.status_code == 200:

        def _parse_response_200(
            data: object,
        ) -> Union[
            "OperatorAgentAddedEvent",
            "OperatorAgentRemovedEvent",
            "OperatorAgentUnreachableEvent",
            "OperatorAutoscalerEvent",
            "OperatorDeploymentFailedEvent",
            "OperatorDeploymentFinishedEvent",
            "OperatorDeploymentStartedEvent",
            "OperatorDeploymentStepEvent",
            "OperatorEndpointsChangedEvent",
            "OperatorErrorEvent",
            "OperatorFrameworkAddedEvent",
            "OperatorFrameworkRemovedEvent",
            "OperatorHeartbeatEvent",
            "OperatorServiceUpdatedEvent",
            "OperatorTaskUpdatedEvent",
        ]:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_operator_stream_event_type_0 = (
                    OperatorAgentAddedEvent.from_dict(data)
                )

                return componentsschemas_operator_stream_event_type_0
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_operator_stream_event_type_1 = (
                    OperatorAgentUnreachableEvent.from_dict(data)
                )

                return componentsschemas_operator_stream_event_type_1
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_operator_stream_event_type_2 = (
                    OperatorAgentRemovedEvent.from_dict(data)
                )

                return componentsschemas_operator_stream_event_type_2
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_operator_stream_event_type_3 = (
                    OperatorFrameworkAddedEvent.from_dict(data)
                )

                return componentsschemas_operator_stream_event_type_3
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_operator_stream_event_type_4 = (
                    OperatorFrameworkRemovedEvent.from_dict(data)
                )

                return componentsschemas_operator_stream_event_type_4
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_operator_stream_event_type_5 = (
                    OperatorTaskUpdatedEvent.from_dict(data)
                )

                return componentsschemas_operator_stream_event_type_5
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_operator_stream_event_type_6 = (
                    OperatorServiceUpdatedEvent.from_dict(data)
                )

                return componentsschemas_operator_stream_event_type_6
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_operator_stream_event_type_7 = (
                    OperatorDeploymentStartedEvent.from_dict(data)
                )

                return componentsschemas_operator_stream_event_type_7
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_operator_stream_event_type_8 = (
                    OperatorDeploymentStepEvent.from_dict(data)
                )

                return componentsschemas_operator_stream_event_type_8
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_operator_stream_event_type_9 = (
                    OperatorDeploymentFinishedEvent.from_dict(data)
                )

                return componentsschemas_operator_stream_event_type_9
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_operator_stream_event_type_10 = (
                    OperatorDeploymentFailedEvent.from_dict(data)
                )

                return componentsschemas_operator_stream_event_type_10
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_operator_stream_event_type_11 = (
                    OperatorEndpointsChangedEvent.from_dict(data)
                )

                return componentsschemas_operator_stream_event_type_11
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_operator_stream_event_type_12 = (
                    OperatorAutoscalerEvent.from_dict(data)
                )

                return componentsschemas_operator_stream_event_type_12
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_operator_stream_event_type_13 = (
                    OperatorHeartbeatEvent.from_dict(data)
                )

                return componentsschemas_operator_stream_event_type_13
            except:  # noqa: E722
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_operator_stream_event_type_14 = (
                OperatorErrorEvent.from_dict(data)
            )

            return componentsschemas_operator_stream_event_type_14

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
            "OperatorAgentAddedEvent",
            "OperatorAgentRemovedEvent",
            "OperatorAgentUnreachableEvent",
            "OperatorAutoscalerEvent",
            "OperatorDeploymentFailedEvent",
            "OperatorDeploymentFinishedEvent",
            "OperatorDeploymentStartedEvent",
            "OperatorDeploymentStepEvent",
            "OperatorEndpointsChangedEvent",
            "OperatorErrorEvent",
            "OperatorFrameworkAddedEvent",
            "OperatorFrameworkRemovedEvent",
            "OperatorHeartbeatEvent",
            "OperatorServiceUpdatedEvent",
            "OperatorTaskUpdatedEvent",
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
    *,
    client: AuthenticatedClient,
    last_event_id: Union[None, Unset, str] = UNSET,
) -> Response[
    Union[
        ErrorBody,
        Union[
            "OperatorAgentAddedEvent",
            "OperatorAgentRemovedEvent",
            "OperatorAgentUnreachableEvent",
            "OperatorAutoscalerEvent",
            "OperatorDeploymentFailedEvent",
            "OperatorDeploymentFinishedEvent",
            "OperatorDeploymentStartedEvent",
            "OperatorDeploymentStepEvent",
            "OperatorEndpointsChangedEvent",
            "OperatorErrorEvent",
            "OperatorFrameworkAddedEvent",
            "OperatorFrameworkRemovedEvent",
            "OperatorHeartbeatEvent",
            "OperatorServiceUpdatedEvent",
            "OperatorTaskUpdatedEvent",
        ],
    ]
]:
    """A Server-Sent Events stream. Every event has an `id:`; reconnect with `Last-Event-ID` to resume.

    Args:
        last_event_id (Union[None, Unset, str]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorBody, Union['OperatorAgentAddedEvent', 'OperatorAgentRemovedEvent', 'OperatorAgentUnreachableEvent', 'OperatorAutoscalerEvent', 'OperatorDeploymentFailedEvent', 'OperatorDeploymentFinishedEvent', 'OperatorDeploymentStartedEvent', 'OperatorDeploymentStepEvent', 'OperatorEndpointsChangedEvent', 'OperatorErrorEvent', 'OperatorFrameworkAddedEvent', 'OperatorFrameworkRemovedEvent', 'OperatorHeartbeatEvent', 'OperatorServiceUpdatedEvent', 'OperatorTaskUpdatedEvent']]]
    """

    kwargs = _get_kwargs(
        last_event_id=last_event_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    last_event_id: Union[None, Unset, str] = UNSET,
) -> Optional[
    Union[
        ErrorBody,
        Union[
            "OperatorAgentAddedEvent",
            "OperatorAgentRemovedEvent",
            "OperatorAgentUnreachableEvent",
            "OperatorAutoscalerEvent",
            "OperatorDeploymentFailedEvent",
            "OperatorDeploymentFinishedEvent",
            "OperatorDeploymentStartedEvent",
            "OperatorDeploymentStepEvent",
            "OperatorEndpointsChangedEvent",
            "OperatorErrorEvent",
            "OperatorFrameworkAddedEvent",
            "OperatorFrameworkRemovedEvent",
            "OperatorHeartbeatEvent",
            "OperatorServiceUpdatedEvent",
            "OperatorTaskUpdatedEvent",
        ],
    ]
]:
    """A Server-Sent Events stream. Every event has an `id:`; reconnect with `Last-Event-ID` to resume.

    Args:
        last_event_id (Union[None, Unset, str]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorBody, Union['OperatorAgentAddedEvent', 'OperatorAgentRemovedEvent', 'OperatorAgentUnreachableEvent', 'OperatorAutoscalerEvent', 'OperatorDeploymentFailedEvent', 'OperatorDeploymentFinishedEvent', 'OperatorDeploymentStartedEvent', 'OperatorDeploymentStepEvent', 'OperatorEndpointsChangedEvent', 'OperatorErrorEvent', 'OperatorFrameworkAddedEvent', 'OperatorFrameworkRemovedEvent', 'OperatorHeartbeatEvent', 'OperatorServiceUpdatedEvent', 'OperatorTaskUpdatedEvent']]
    """

    return sync_detailed(
        client=client,
        last_event_id=last_event_id,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    last_event_id: Union[None, Unset, str] = UNSET,
) -> Response[
    Union[
        ErrorBody,
        Union[
            "OperatorAgentAddedEvent",
            "OperatorAgentRemovedEvent",
            "OperatorAgentUnreachableEvent",
            "OperatorAutoscalerEvent",
            "OperatorDeploymentFailedEvent",
            "OperatorDeploymentFinishedEvent",
            "OperatorDeploymentStartedEvent",
            "OperatorDeploymentStepEvent",
            "OperatorEndpointsChangedEvent",
            "OperatorErrorEvent",
            "OperatorFrameworkAddedEvent",
            "OperatorFrameworkRemovedEvent",
            "OperatorHeartbeatEvent",
            "OperatorServiceUpdatedEvent",
            "OperatorTaskUpdatedEvent",
        ],
    ]
]:
    """A Server-Sent Events stream. Every event has an `id:`; reconnect with `Last-Event-ID` to resume.

    Args:
        last_event_id (Union[None, Unset, str]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorBody, Union['OperatorAgentAddedEvent', 'OperatorAgentRemovedEvent', 'OperatorAgentUnreachableEvent', 'OperatorAutoscalerEvent', 'OperatorDeploymentFailedEvent', 'OperatorDeploymentFinishedEvent', 'OperatorDeploymentStartedEvent', 'OperatorDeploymentStepEvent', 'OperatorEndpointsChangedEvent', 'OperatorErrorEvent', 'OperatorFrameworkAddedEvent', 'OperatorFrameworkRemovedEvent', 'OperatorHeartbeatEvent', 'OperatorServiceUpdatedEvent', 'OperatorTaskUpdatedEvent']]]
    """

    kwargs = _get_kwargs(
        last_event_id=last_event_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    last_event_id: Union[None, Unset, str] = UNSET,
) -> Optional[
    Union[
        ErrorBody,
        Union[
            "OperatorAgentAddedEvent",
            "OperatorAgentRemovedEvent",
            "OperatorAgentUnreachableEvent",
            "OperatorAutoscalerEvent",
            "OperatorDeploymentFailedEvent",
            "OperatorDeploymentFinishedEvent",
            "OperatorDeploymentStartedEvent",
            "OperatorDeploymentStepEvent",
            "OperatorEndpointsChangedEvent",
            "OperatorErrorEvent",
            "OperatorFrameworkAddedEvent",
            "OperatorFrameworkRemovedEvent",
            "OperatorHeartbeatEvent",
            "OperatorServiceUpdatedEvent",
            "OperatorTaskUpdatedEvent",
        ],
    ]
]:
    """A Server-Sent Events stream. Every event has an `id:`; reconnect with `Last-Event-ID` to resume.

    Args:
        last_event_id (Union[None, Unset, str]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorBody, Union['OperatorAgentAddedEvent', 'OperatorAgentRemovedEvent', 'OperatorAgentUnreachableEvent', 'OperatorAutoscalerEvent', 'OperatorDeploymentFailedEvent', 'OperatorDeploymentFinishedEvent', 'OperatorDeploymentStartedEvent', 'OperatorDeploymentStepEvent', 'OperatorEndpointsChangedEvent', 'OperatorErrorEvent', 'OperatorFrameworkAddedEvent', 'OperatorFrameworkRemovedEvent', 'OperatorHeartbeatEvent', 'OperatorServiceUpdatedEvent', 'OperatorTaskUpdatedEvent']]
    """

    return (
        await asyncio_detailed(
            client=client,
            last_event_id=last_event_id,
        )
    ).parsed
