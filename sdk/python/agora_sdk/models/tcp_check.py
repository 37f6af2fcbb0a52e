from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field


if TYPE_CHECKING:
    from ..models.tcp_probe import TcpProbe


T = TypeVar("T", bound="TcpCheck")


@_attrs_define
class TcpCheck:
    """Healthy if a TCP connection to `127.0.0.1:{port}` opens.

    Attributes:
        tcp (TcpProbe): Healthy if a TCP connection to `127.0.0.1:{port}` opens.
    """

    tcp: "TcpProbe"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        tcp = self.tcp.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "tcp": tcp,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.tcp_probe import TcpProbe

        d = dict(src_dict)
        tcp = TcpProbe.from_dict(d.pop("tcp"))

        tcp_check = cls(
            tcp=tcp,
        )

        tcp_check.additional_properties = d
        return tcp_check

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
