from http import HTTPStatus
from typing import Any, Optional, Union

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response
from ... import errors

from ...models.error_body import ErrorBody
from ...models.role_config import RoleConfig
from ...models.role_view import RoleView


def _get_kwargs(
    role: str,
    *,
    body: RoleConfig,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "put",
        "url": "/v1/roles/{role}".format(
            role=role,
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: Union[AuthenticatedClient, Client], response: httpx.Response
) -> Optional[Union[ErrorBody, RoleView]]:
    if response.status_code == 200:
        response_200 = RoleView.from_dict(response.json())

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
) -> Response[Union[ErrorBody, RoleView]]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    role: str,
    *,
    client: AuthenticatedClient,
    body: RoleConfig,
) -> Response[Union[ErrorBody, RoleView]]:
    """Sets a role's weight and quota, replacing what was set. Operators only.

    Args:
        role (str):
        body (RoleConfig): `PUT /v1/roles/{role}`: a role's weight and quota. Quota counts scalar
            resources only
            (`cpus`, `mem`, `disk`, `gpus`), held by the role and every role below it.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorBody, RoleView]]
    """

    kwargs = _get_kwargs(
        role=role,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    role: str,
    *,
    client: AuthenticatedClient,
    body: RoleConfig,
) -> Optional[Union[ErrorBody, RoleView]]:
    """Sets a role's weight and quota, replacing what was set. Operators only.

    Args:
        role (str):
        body (RoleConfig): `PUT /v1/roles/{role}`: a role's weight and quota. Quota counts scalar
            resources only
            (`cpus`, `mem`, `disk`, `gpus`), held by the role and every role below it.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorBody, RoleView]
    """

    return sync_detailed(
        role=role,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    role: str,
    *,
    client: AuthenticatedClient,
    body: RoleConfig,
) -> Response[Union[ErrorBody, RoleView]]:
    """Sets a role's weight and quota, replacing what was set. Operators only.

    Args:
        role (str):
        body (RoleConfig): `PUT /v1/roles/{role}`: a role's weight and quota. Quota counts scalar
            resources only
            (`cpus`, `mem`, `disk`, `gpus`), held by the role and every role below it.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[ErrorBody, RoleView]]
    """

    kwargs = _get_kwargs(
        role=role,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    role: str,
    *,
    client: AuthenticatedClient,
    body: RoleConfig,
) -> Optional[Union[ErrorBody, RoleView]]:
    """Sets a role's weight and quota, replacing what was set. Operators only.

    Args:
        role (str):
        body (RoleConfig): `PUT /v1/roles/{role}`: a role's weight and quota. Quota counts scalar
            resources only
            (`cpus`, `mem`, `disk`, `gpus`), held by the role and every role below it.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[ErrorBody, RoleView]
    """

    return (
        await asyncio_detailed(
            role=role,
            client=client,
            body=body,
        )
    ).parsed
