from http import HTTPStatus
from typing import Any, Optional, Union

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.error_body import ErrorBody
from ...models.task_list import TaskList
from ...models.task_state import TaskState
from ...types import Unset


def _get_kwargs(
    *,
    framework_id: Union[Unset, str] = UNSET,
    agent_id: Union[Unset, str] = UNSET,
    state: Union[Unset, TaskState] = UNSET,
) -> dict[str, Any]:
    params: dict[str, Any] = {}

    params["framework_id"] = framework_id

    params["agent_id"] = agent_id

    json_state: Union[Unset, str] = UNSET
    if not isinstance(state, Unset):
        json_state = state.value

    params["state"] = json_state

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/tasks",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: Union[AuthenticatedClient, Client], response: httpx.Response
) -> Optional[Union[ErrorBody, TaskList]]:
    if response.status_code == 200:
        response_200 = TaskList.from_dict(response.json())

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
) -> Response[Union[ErrorBody, TaskList]]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    framework_id: Union[Unset, str] = UNSET,
    agent_id: Union[Unset, str] = UNSET,
    state: Union[Unset, TaskState] = UNSET,
) -> Response[Union[ErrorBody, TaskList]]:
    """
    Args:
        framework_id (Union[Unset, str]): A framework's id, minted at registration and kept across
            failovers: 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        agent_id (Union[Unset, str]): An agent's id, minted at its first registration and kept
            across its restarts: 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        state (Union[Unset, TaskState]): A task's lifecycle state, as in Mesos (`TASK_STAGING` is
            `staging`, and so on).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorBody, TaskList]]
    """

    kwargs = _get_kwargs(
        framework_id=framework_id,
        agent_id=agent_id,
        state=state,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    framework_id: Union[Unset, str] = UNSET,
    agent_id: Union[Unset, str] = UNSET,
    state: Union[Unset, TaskState] = UNSET,
) -> Optional[Union[ErrorBody, TaskList]]:
    """
    Args:
        framework_id (Union[Unset, str]): A framework's id, minted at registration and kept across
            failovers: 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        agent_id (Union[Unset, str]): An agent's id, minted at its first registration and kept
            across its restarts: 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        state (Union[Unset, TaskState]): A task's lifecycle state, as in Mesos (`TASK_STAGING` is
            `staging`, and so on).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorBody, TaskList]
    """

    return sync_detailed(
        client=client,
        framework_id=framework_id,
        agent_id=agent_id,
        state=state,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    framework_id: Union[Unset, str] = UNSET,
    agent_id: Union[Unset, str] = UNSET,
    state: Union[Unset, TaskState] = UNSET,
) -> Response[Union[ErrorBody, TaskList]]:
    """
    Args:
        framework_id (Union[Unset, str]): A framework's id, minted at registration and kept across
            failovers: 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        agent_id (Union[Unset, str]): An agent's id, minted at its first registration and kept
            across its restarts: 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        state (Union[Unset, TaskState]): A task's lifecycle state, as in Mesos (`TASK_STAGING` is
            `staging`, and so on).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorBody, TaskList]]
    """

    kwargs = _get_kwargs(
        framework_id=framework_id,
        agent_id=agent_id,
        state=state,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    framework_id: Union[Unset, str] = UNSET,
    agent_id: Union[Unset, str] = UNSET,
    state: Union[Unset, TaskState] = UNSET,
) -> Optional[Union[ErrorBody, TaskList]]:
    """
    Args:
        framework_id (Union[Unset, str]): A framework's id, minted at registration and kept across
            failovers: 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        agent_id (Union[Unset, str]): An agent's id, minted at its first registration and kept
            across its restarts: 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        state (Union[Unset, TaskState]): A task's lifecycle state, as in Mesos (`TASK_STAGING` is
            `staging`, and so on).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorBody, TaskList]
    """

    return (
        await asyncio_detailed(
            client=client,
            framework_id=framework_id,
            agent_id=agent_id,
            state=state,
        )
    ).parsed
