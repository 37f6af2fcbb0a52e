from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from ..models.protocol import Protocol
from typing import cast, Union


T = TypeVar("T", bound="PortMapping")


@_attrs_define
class PortMapping:
    """A port of a bridged container published on the agent.

    Attributes:
        container_port (int):
        host_port (Union[None, Unset, int]): One of the task's offered ports; absent: the task's ports in order, one per
            mapping
            that names none.
        protocol (Union[Unset, Protocol]):
    """

    container_port: int
    host_port: Union[None, Unset, int] = UNSET
    protocol: Union[Unset, Protocol] = UNSET

    def to_dict(self) -> dict[str, Any]:
        container_port = self.container_port

        host_port: Union[None, Unset, int]
        if isinstance(self.host_port, Unset):
            host_port = UNSET
        else:
            host_port = self.host_port

        protocol: Union[Unset, str] = UNSET
        if not isinstance(self.protocol, Unset):
            protocol = self.protocol.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "container_port": container_port,
            }
        )
        if host_port is not UNSET:
            field_dict["host_port"] = host_port
        if protocol is not UNSET:
            field_dict["protocol"] = protocol

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        container_port = d.pop("container_port")

        def _parse_host_port(data: object) -> Union[None, Unset, int]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, int], data)

        host_port = _parse_host_port(d.pop("host_port", UNSET))

        _protocol = d.pop("protocol", UNSET)
        protocol: Union[Unset, Protocol]
        if isinstance(_protocol, Unset):
            protocol = UNSET
        else:
            protocol = Protocol(_protocol)

        port_mapping = cls(
            container_port=container_port,
            host_port=host_port,
            protocol=protocol,
        )

        return port_mapping
