from http import HTTPStatus
from typing import Any, Optional, Union

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response
from ... import errors

from ...models.acquire_lease import AcquireLease
from ...models.error_body import ErrorBody
from ...models.lease import Lease


def _get_kwargs(
    name: str,
    *,
    body: AcquireLease,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "put",
        "url": "/v1/leases/{name}".format(
            name=name,
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: Union[AuthenticatedClient, Client], response: httpx.Response
) -> Optional[Union[ErrorBody, Lease]]:
    if response.status_code == 200:
        response_200 = Lease.from_dict(response.json())

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

    if response.status_code == 409:
        response_409 = ErrorBody.from_dict(response.json())

        return response_409

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
) -> Response[Union[ErrorBody, Lease]]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    name: str,
    *,
    client: AuthenticatedClient,
    body: AcquireLease,
) -> Response[Union[ErrorBody, Lease]]:
    """Takes or renews a named lease, so that of several replicas of a tool (such as an autoscaler) one
    acts at a time. A lease that is free, expired, released or already the holder's is given to the
    holder for `ttl_secs` from now, by the server's clock; taking it (rather than renewing it unexpired)
    raises its epoch. These leases are the operators' own: they have nothing to do with the allocator's.
    Operators only.

    Args:
        name (str):
        body (AcquireLease): `PUT /v1/leases/{name}`: takes or renews a named lease, so that of
            several replicas of a
            tool (an autoscaler) one acts at a time.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorBody, Lease]]
    """

    kwargs = _get_kwargs(
        name=name,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    name: str,
    *,
    client: AuthenticatedClient,
    body: AcquireLease,
) -> Optional[Union[ErrorBody, Lease]]:
    """Takes or renews a named lease, so that of several replicas of a tool (such as an autoscaler) one
    acts at a time. A lease that is free, expired, released or already the holder's is given to the
    holder for `ttl_secs` from now, by the server's clock; taking it (rather than renewing it unexpired)
    raises its epoch. These leases are the operators' own: they have nothing to do with the allocator's.
    Operators only.

    Args:
        name (str):
        body (AcquireLease): `PUT /v1/leases/{name}`: takes or renews a named lease, so that of
            several replicas of a
            tool (an autoscaler) one acts at a time.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorBody, Lease]
    """

    return sync_detailed(
        name=name,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    name: str,
    *,
    client: AuthenticatedClient,
    body: AcquireLease,
) -> Response[Union[ErrorBody, Lease]]:
    """Takes or renews a named lease, so that of several replicas of a tool (such as an autoscaler) one
    acts at a time. A lease that is free, expired, released or already the holder's is given to the
    holder for `ttl_secs` from now, by the server's clock; taking it (rather than renewing it unexpired)
    raises its epoch. These leases are the operators' own: they have nothing to do with the allocator's.
    Operators only.

    Args:
        name (str):
        body (AcquireLease): `PUT /v1/leases/{name}`: takes or renews a named lease, so that of
            several replicas of a
            tool (an autoscaler) one acts at a time.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorBody, Lease]]
    """

    kwargs = _get_kwargs(
        name=name,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    name: str,
    *,
    client: AuthenticatedClient,
    body: AcquireLease,
) -> Optional[Union[ErrorBody, Lease]]:
    """Takes or renews a named lease, so that of several replicas of a tool (such as an autoscaler) one
    acts at a time. A lease that is free, expired, released or already the holder's is given to the
    holder for `ttl_secs` from now, by the server's clock; taking it (rather than renewing it unexpired)
    raises its epoch. These leases are the operators' own: they have nothing to do with the allocator's.
    Operators only.

    Args:
        name (str):
        body (AcquireLease): `PUT /v1/leases/{name}`: takes or renews a named lease, so that of
            several replicas of a
            tool (an autoscaler) one acts at a time.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorBody, Lease]
    """

    return (
        await asyncio_detailed(
            name=name,
            client=client,
            body=body,
        )
    ).parsed
