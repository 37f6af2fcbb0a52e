from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field


T = TypeVar("T", bound="FrameworkEventData")


@_attrs_define
class FrameworkEventData:
    """Data of the operator stream's `framework_added` and `framework_removed` events.

    Attributes:
        framework_id (str): A framework's id, minted at registration and kept across failovers: 1 to 128 characters of
            `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        name (str):
    """

    framework_id: str
    name: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        framework_id = self.framework_id

        name = self.name

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "framework_id": framework_id,
                "name": name,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        framework_id = d.pop("framework_id")

        name = d.pop("name")

        framework_event_data = cls(
            framework_id=framework_id,
            name=name,
        )

        framework_event_data.additional_properties = d
        return framework_event_data

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
