from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field


T = TypeVar("T", bound="ServiceEvent")


@_attrs_define
class ServiceEvent:
    """Data of the operator stream's `service_updated` event.

    Attributes:
        service_id (str):
        version (int):
        change (str): `created`, `updated`, `scaled`, `restarted`, `rolled_back`, `deleting` or `deleted`.
    """

    service_id: str
    version: int
    change: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        service_id = self.service_id

        version = self.version

        change = self.change

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "service_id": service_id,
                "version": version,
                "change": change,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        service_id = d.pop("service_id")

        version = d.pop("version")

        change = d.pop("change")

        service_event = cls(
            service_id=service_id,
            version=version,
            change=change,
        )

        service_event.additional_properties = d
        return service_event

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
