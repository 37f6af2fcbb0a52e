from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field


T = TypeVar("T", bound="AcknowledgeCommand")


@_attrs_define
class AcknowledgeCommand:
    """Data of the `acknowledge` command: the framework has the update, send the next one.

    Attributes:
        framework_id (str): A framework's id, minted at registration and kept across failovers: 1 to 128 characters of
            `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        task_id (str): A task's id, chosen by its framework and unique within it: 1 to 128 characters of `A-Z a-z 0-9 .
            _ -`, not `.` or `..`.
        update_id (str): A status update's id, which the framework acknowledges: 1 to 128 characters of `A-Z a-z 0-9 . _
            -`, not `.` or `..`.
    """

    framework_id: str
    task_id: str
    update_id: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        framework_id = self.framework_id

        task_id = self.task_id

        update_id = self.update_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "framework_id": framework_id,
                "task_id": task_id,
                "update_id": update_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        framework_id = d.pop("framework_id")

        task_id = d.pop("task_id")

        update_id = d.pop("update_id")

        acknowledge_command = cls(
            framework_id=framework_id,
            task_id=task_id,
            update_id=update_id,
        )

        acknowledge_command.additional_properties = d
        return acknowledge_command

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
