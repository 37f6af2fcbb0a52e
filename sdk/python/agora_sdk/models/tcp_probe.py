from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define


T = TypeVar("T", bound="TcpProbe")


@_attrs_define
class TcpProbe:
    """Healthy if a TCP connection to `127.0.0.1:{port}` opens.

    Attributes:
        port (int):
    """

    port: int

    def to_dict(self) -> dict[str, Any]:
        port = self.port

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "port": port,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        port = d.pop("port")

        tcp_probe = cls(
            port=port,
        )

        return tcp_probe
