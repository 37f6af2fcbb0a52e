from http import HTTPStatus
from typing import Any, Optional, Union, cast

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response
from ... import errors

from ...models.demand import Demand
from ...models.error_body import ErrorBody


def _get_kwargs(
    id: str,
    *,
    body: Demand,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "put",
        "url": "/v1/frameworks/{id}/demand".format(
            id=id,
        ),
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
) -> Response[Union[Any, ErrorBody]]:
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
    body: Demand,
) -> Response[Union[Any, ErrorBody]]:
    """Declares the framework's work waiting for resources, replacing what it declared before (an empty
    list clears it), so that an autoscaler can see demand no agent has room for. `GET
    /v1/frameworks/{id}` shows it as `demand`; it goes with the framework. Offers do not depend on it.
    The framework's own token or an operator.

    Args:
        id (str): A framework's id, minted at registration and kept across failovers: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        body (Demand): `PUT /v1/frameworks/{id}/demand`: the work a framework has waiting for
            resources, declared so
            that an autoscaler can see what no agent has room (or the attributes) for. It replaces
            what
            the framework declared before; an empty list clears it. The master only keeps it: offers
            do
            not depend on it.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[Any, ErrorBody]]
    """

    kwargs = _get_kwargs(
        id=id,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: str,
    *,
    client: AuthenticatedClient,
    body: Demand,
) -> Optional[Union[Any, ErrorBody]]:
    """Declares the framework's work waiting for resources, replacing what it declared before (an empty
    list clears it), so that an autoscaler can see demand no agent has room for. `GET
    /v1/frameworks/{id}` shows it as `demand`; it goes with the framework. Offers do not depend on it.
    The framework's own token or an operator.

    Args:
        id (str): A framework's id, minted at registration and kept across failovers: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        body (Demand): `PUT /v1/frameworks/{id}/demand`: the work a framework has waiting for
            resources, declared so
            that an autoscaler can see what no agent has room (or the attributes) for. It replaces
            what
            the framework declared before; an empty list clears it. The master only keeps it: offers
            do
            not depend on it.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[Any, ErrorBody]
    """

    return sync_detailed(
        id=id,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    body: Demand,
) -> Response[Union[Any, ErrorBody]]:
    """Declares the framework's work waiting for resources, replacing what it declared before (an empty
    list clears it), so that an autoscaler can see demand no agent has room for. `GET
    /v1/frameworks/{id}` shows it as `demand`; it goes with the framework. Offers do not depend on it.
    The framework's own token or an operator.

    Args:
        id (str): A framework's id, minted at registration and kept across failovers: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        body (Demand): `PUT /v1/frameworks/{id}/demand`: the work a framework has waiting for
            resources, declared so
            that an autoscaler can see what no agent has room (or the attributes) for. It replaces
            what
            the framework declared before; an empty list clears it. The master only keeps it: offers
            do
            not depend on it.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[Any, ErrorBody]]
    """

    kwargs = _get_kwargs(
        id=id,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: str,
    *,
    client: AuthenticatedClient,
    body: Demand,
) -> Optional[Union[Any, ErrorBody]]:
    """Declares the framework's work waiting for resources, replacing what it declared before (an empty
    list clears it), so that an autoscaler can see demand no agent has room for. `GET
    /v1/frameworks/{id}` shows it as `demand`; it goes with the framework. Offers do not depend on it.
    The framework's own token or an operator.

    Args:
        id (str): A framework's id, minted at registration and kept across failovers: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        body (Demand): `PUT /v1/frameworks/{id}/demand`: the work a framework has waiting for
            resources, declared so
            that an autoscaler can see what no agent has room (or the attributes) for. It replaces
            what
            the framework declared before; an empty list clears it. The master only keeps it: offers
            do
            not depend on it.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[Any, ErrorBody]
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            body=body,
        )
    ).parsed
