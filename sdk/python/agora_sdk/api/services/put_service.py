from http import HTTPStatus
from typing import Any, Optional, Union

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response
from ... import errors

from ...models.deployment_started import DeploymentStarted
from ...models.error_body import ErrorBody
from ...models.service_spec import ServiceSpec


def _get_kwargs(
    id: str,
    *,
    body: ServiceSpec,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "put",
        "url": "/v1/services/{id}".format(
            id=id,
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: Union[AuthenticatedClient, Client], response: httpx.Response
) -> Optional[Union[DeploymentStarted, ErrorBody]]:
    if response.status_code == 200:
        response_200 = DeploymentStarted.from_dict(response.json())

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
) -> Response[Union[DeploymentStarted, ErrorBody]]:
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
    body: ServiceSpec,
) -> Response[Union[DeploymentStarted, ErrorBody]]:
    """Creates or updates a service. A change to its task, role or constraints makes a new version, rolled
    out by its upgrade strategy; a change of `instances` alone scales it. A deployment under way is
    replaced by the new one, which starts from where the service is. Operators only.

    Args:
        id (str):
        body (ServiceSpec): `PUT /v1/services/{id}`: what a service runs, how many, where and how
            it is rolled out.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[DeploymentStarted, ErrorBody]]
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
    body: ServiceSpec,
) -> Optional[Union[DeploymentStarted, ErrorBody]]:
    """Creates or updates a service. A change to its task, role or constraints makes a new version, rolled
    out by its upgrade strategy; a change of `instances` alone scales it. A deployment under way is
    replaced by the new one, which starts from where the service is. Operators only.

    Args:
        id (str):
        body (ServiceSpec): `PUT /v1/services/{id}`: what a service runs, how many, where and how
            it is rolled out.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[DeploymentStarted, ErrorBody]
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
    body: ServiceSpec,
) -> Response[Union[DeploymentStarted, ErrorBody]]:
    """Creates or updates a service. A change to its task, role or constraints makes a new version, rolled
    out by its upgrade strategy; a change of `instances` alone scales it. A deployment under way is
    replaced by the new one, which starts from where the service is. Operators only.

    Args:
        id (str):
        body (ServiceSpec): `PUT /v1/services/{id}`: what a service runs, how many, where and how
            it is rolled out.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Union[DeploymentStarted, ErrorBody]]
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
    body: ServiceSpec,
) -> Optional[Union[DeploymentStarted, ErrorBody]]:
    """Creates or updates a service. A change to its task, role or constraints makes a new version, rolled
    out by its upgrade strategy; a change of `instances` alone scales it. A deployment under way is
    replaced by the new one, which starts from where the service is. Operators only.

    Args:
        id (str):
        body (ServiceSpec): `PUT /v1/services/{id}`: what a service runs, how many, where and how
            it is rolled out.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Union[DeploymentStarted, ErrorBody]
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            body=body,
        )
    ).parsed
