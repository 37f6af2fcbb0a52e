from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field


T = TypeVar("T", bound="FrameworkRegistered")


@_attrs_define
class FrameworkRegistered:
    """The answer to a registration.

    Attributes:
        framework_id (str): A framework's id, minted at registration and kept across failovers: 1 to 128 characters of
            `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        heartbeat_interval_secs (float):
    """

    framework_id: str
    heartbeat_interval_secs: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        framework_id = self.framework_id

        heartbeat_interval_secs = self.heartbeat_interval_secs

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "framework_id": framework_id,
                "heartbeat_interval_secs": heartbeat_interval_secs,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        framework_id = d.pop("framework_id")

        heartbeat_interval_secs = d.pop("heartbeat_interval_secs")

        framework_registered = cls(
            framework_id=framework_id,
            heartbeat_interval_secs=heartbeat_interval_secs,
        )

        framework_registered.additional_properties = d
        return framework_registered

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
