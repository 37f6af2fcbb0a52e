from http import HTTPStatus
from typing import Any, Optional, Union, cast

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response
from ... import errors

from ...models.autoscaler_event import AutoscalerEvent
from ...models.error_body import ErrorBody


def _get_kwargs(
    *,
    body: AutoscalerEvent,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/autoscaler/events",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: Union[AuthenticatedClient, Client], response: httpx.Response
) -> Optional[Union[Any, ErrorBody]]:
    if response.status_code == 204:
        response_204 = cast(Any, None)
        return response_204

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
) -> Response[Union[Any, ErrorBody]]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: AutoscalerEvent,
) -> Response[Union[Any, ErrorBody]]:
    """Appends an autoscaler's decision to the operator stream (`GET /v1/events`) as an `autoscaler` event,
    so that operators follow what it did beside what the cluster did. Operators only.

    Args:
        body (AutoscalerEvent): `POST /v1/autoscaler/events`, and the data of the operator
            stream's `autoscaler` event: a
            decision an autoscaler made (or, with `dry_run`, would have made), for operators to follow
            on the same stream as what it acted on.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[Any, ErrorBody]]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: AutoscalerEvent,
) -> Optional[Union[Any, ErrorBody]]:
    """Appends an autoscaler's decision to the operator stream (`GET /v1/events`) as an `autoscaler` event,
    so that operators follow what it did beside what the cluster did. Operators only.

    Args:
        body (AutoscalerEvent): `POST /v1/autoscaler/events`, and the data of the operator
            stream's `autoscaler` event: a
            decision an autoscaler made (or, with `dry_run`, would have made), for operators to follow
            on the same stream as what it acted on.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[Any, ErrorBody]
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: AutoscalerEvent,
) -> Response[Union[Any, ErrorBody]]:
    """Appends an autoscaler's decision to the operator stream (`GET /v1/events`) as an `autoscaler` event,
    so that operators follow what it did beside what the cluster did. Operators only.

    Args:
        body (AutoscalerEvent): `POST /v1/autoscaler/events`, and the data of the operator
            stream's `autoscaler` event: a
            decision an autoscaler made (or, with `dry_run`, would have made), for operators to follow
            on the same stream as what it acted on.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[Any, ErrorBody]]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: AutoscalerEvent,
) -> Optional[Union[Any, ErrorBody]]:
    """Appends an autoscaler's decision to the operator stream (`GET /v1/events`) as an `autoscaler` event,
    so that operators follow what it did beside what the cluster did. Operators only.

    Args:
        body (AutoscalerEvent): `POST /v1/autoscaler/events`, and the data of the operator
            stream's `autoscaler` event: a
            decision an autoscaler made (or, with `dry_run`, would have made), for operators to follow
            on the same stream as what it acted on.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[Any, ErrorBody]
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
