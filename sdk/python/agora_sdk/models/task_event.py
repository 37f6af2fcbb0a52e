from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field


if TYPE_CHECKING:
    from ..models.task_status import TaskStatus


T = TypeVar("T", bound="TaskEvent")


@_attrs_define
class TaskEvent:
    """Data of the operator stream's `task_updated` event: the task's new status, as its framework
    sees it.

        Attributes:
            status (TaskStatus): A task's status, as carried by `update` events and reported by agents.
    """

    status: "TaskStatus"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        status = self.status.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "status": status,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.task_status import TaskStatus

        d = dict(src_dict)
        status = TaskStatus.from_dict(d.pop("status"))

        task_event = cls(
            status=status,
        )

        task_event.additional_properties = d
        return task_event

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
