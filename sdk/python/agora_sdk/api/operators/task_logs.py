from http import HTTPStatus
from typing import Any, Optional, Union, cast

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.error_body import ErrorBody
from ...models.log_stream import LogStream
from ...types import Unset


def _get_kwargs(
    task_id: str,
    *,
    framework_id: Union[Unset, str] = UNSET,
    stream: Union[Unset, LogStream] = UNSET,
    offset: Union[Unset, int] = UNSET,
    max_bytes: Union[Unset, int] = UNSET,
    wait_secs: Union[Unset, float] = UNSET,
    follow: Union[Unset, bool] = UNSET,
) -> dict[str, Any]:
    params: dict[str, Any] = {}

    params["framework_id"] = framework_id

    json_stream: Union[Unset, str] = UNSET
    if not isinstance(stream, Unset):
        json_stream = stream.value

    params["stream"] = json_stream

    params["offset"] = offset

    params["max_bytes"] = max_bytes

    params["wait_secs"] = wait_secs

    params["follow"] = follow

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/tasks/{task_id}/logs".format(
            task_id=task_id,
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: Union[AuthenticatedClient, Client], response: httpx.Response
) -> Optional[Union[ErrorBody, list[int]]]:
    if response.status_code == 200:
        response_200 = cast(list[int], response.content)

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

    if response.status_code == 409:
        response_409 = ErrorBody.from_dict(response.json())

        return response_409

    if response.status_code == 429:
        response_429 = ErrorBody.from_dict(response.json())

        return response_429

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())

        return response_503

    if response.status_code == 504:
        response_504 = ErrorBody.from_dict(response.json())

        return response_504

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: Union[AuthenticatedClient, Client], response: httpx.Response
) -> Response[Union[ErrorBody, list[int]]]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    task_id: str,
    *,
    client: AuthenticatedClient,
    framework_id: Union[Unset, str] = UNSET,
    stream: Union[Unset, LogStream] = UNSET,
    offset: Union[Unset, int] = UNSET,
    max_bytes: Union[Unset, int] = UNSET,
    wait_secs: Union[Unset, float] = UNSET,
    follow: Union[Unset, bool] = UNSET,
) -> Response[Union[ErrorBody, list[int]]]:
    """A task's stdout or stderr, read from its agent's sandbox. With `follow=true` the answer streams the
    output as it is written and ends when the task has ended. Without it, one chunk comes back: call
    again from `X-Agora-Next-Offset` (with `wait_secs` to wait for more) until `X-Agora-Task-Ended` is
    true and no bytes come back.

    Args:
        task_id (str): A task's id, chosen by its framework and unique within it: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        framework_id (Union[Unset, str]): A framework's id, minted at registration and kept across
            failovers: 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        stream (Union[Unset, LogStream]): Which of a task's output files.
        offset (Union[Unset, int]):
        max_bytes (Union[Unset, int]):
        wait_secs (Union[Unset, float]):
        follow (Union[Unset, bool]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorBody, list[int]]]
    """

    kwargs = _get_kwargs(
        task_id=task_id,
        framework_id=framework_id,
        stream=stream,
        offset=offset,
        max_bytes=max_bytes,
        wait_secs=wait_secs,
        follow=follow,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    task_id: str,
    *,
    client: AuthenticatedClient,
    framework_id: Union[Unset, str] = UNSET,
    stream: Union[Unset, LogStream] = UNSET,
    offset: Union[Unset, int] = UNSET,
    max_bytes: Union[Unset, int] = UNSET,
    wait_secs: Union[Unset, float] = UNSET,
    follow: Union[Unset, bool] = UNSET,
) -> Optional[Union[ErrorBody, list[int]]]:
    """A task's stdout or stderr, read from its agent's sandbox. With `follow=true` the answer streams the
    output as it is written and ends when the task has ended. Without it, one chunk comes back: call
    again from `X-Agora-Next-Offset` (with `wait_secs` to wait for more) until `X-Agora-Task-Ended` is
    true and no bytes come back.

    Args:
        task_id (str): A task's id, chosen by its framework and unique within it: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        framework_id (Union[Unset, str]): A framework's id, minted at registration and kept across
            failovers: 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        stream (Union[Unset, LogStream]): Which of a task's output files.
        offset (Union[Unset, int]):
        max_bytes (Union[Unset, int]):
        wait_secs (Union[Unset, float]):
        follow (Union[Unset, bool]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorBody, list[int]]
    """

    return sync_detailed(
        task_id=task_id,
        client=client,
        framework_id=framework_id,
        stream=stream,
        offset=offset,
        max_bytes=max_bytes,
        wait_secs=wait_secs,
        follow=follow,
    ).parsed


async def asyncio_detailed(
    task_id: str,
    *,
    client: AuthenticatedClient,
    framework_id: Union[Unset, str] = UNSET,
    stream: Union[Unset, LogStream] = UNSET,
    offset: Union[Unset, int] = UNSET,
    max_bytes: Union[Unset, int] = UNSET,
    wait_secs: Union[Unset, float] = UNSET,
    follow: Union[Unset, bool] = UNSET,
) -> Response[Union[ErrorBody, list[int]]]:
    """A task's stdout or stderr, read from its agent's sandbox. With `follow=true` the answer streams the
    output as it is written and ends when the task has ended. Without it, one chunk comes back: call
    again from `X-Agora-Next-Offset` (with `wait_secs` to wait for more) until `X-Agora-Task-Ended` is
    true and no bytes come back.

    Args:
        task_id (str): A task's id, chosen by its framework and unique within it: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        framework_id (Union[Unset, str]): A framework's id, minted at registration and kept across
            failovers: 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        stream (Union[Unset, LogStream]): Which of a task's output files.
        offset (Union[Unset, int]):
        max_bytes (Union[Unset, int]):
        wait_secs (Union[Unset, float]):
        follow (Union[Unset, bool]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorBody, list[int]]]
    """

    kwargs = _get_kwargs(
        task_id=task_id,
        framework_id=framework_id,
        stream=stream,
        offset=offset,
        max_bytes=max_bytes,
        wait_secs=wait_secs,
        follow=follow,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    task_id: str,
    *,
    client: AuthenticatedClient,
    framework_id: Union[Unset, str] = UNSET,
    stream: Union[Unset, LogStream] = UNSET,
    offset: Union[Unset, int] = UNSET,
    max_bytes: Union[Unset, int] = UNSET,
    wait_secs: Union[Unset, float] = UNSET,
    follow: Union[Unset, bool] = UNSET,
) -> Optional[Union[ErrorBody, list[int]]]:
    """A task's stdout or stderr, read from its agent's sandbox. With `follow=true` the answer streams the
    output as it is written and ends when the task has ended. Without it, one chunk comes back: call
    again from `X-Agora-Next-Offset` (with `wait_secs` to wait for more) until `X-Agora-Task-Ended` is
    true and no bytes come back.

    Args:
        task_id (str): A task's id, chosen by its framework and unique within it: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        framework_id (Union[Unset, str]): A framework's id, minted at registration and kept across
            failovers: 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        stream (Union[Unset, LogStream]): Which of a task's output files.
        offset (Union[Unset, int]):
        max_bytes (Union[Unset, int]):
        wait_secs (Union[Unset, float]):
        follow (Union[Unset, bool]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorBody, list[int]]
    """

    return (
        await asyncio_detailed(
            task_id=task_id,
            client=client,
            framework_id=framework_id,
            stream=stream,
            offset=offset,
            max_bytes=max_bytes,
            wait_secs=wait_secs,
            follow=follow,
        )
    ).parsed
