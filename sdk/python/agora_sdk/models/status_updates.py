from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define


if TYPE_CHECKING:
    from ..models.task_status import TaskStatus


T = TypeVar("T", bound="StatusUpdates")


@_attrs_define
class StatusUpdates:
    """`POST /v1/agents/{id}/updates`: task status updates, in order.

    Attributes:
        updates (list['TaskStatus']):
    """

    updates: list["TaskStatus"]

    def to_dict(self) -> dict[str, Any]:
        updates = []
        for updates_item_data in self.updates:
            updates_item = updates_item_data.to_dict()
            updates.append(updates_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "updates": updates,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.task_status import TaskStatus

        d = dict(src_dict)
        updates = []
        _updates = d.pop("updates")
        for updates_item_data in _updates:
            updates_item = TaskStatus.from_dict(updates_item_data)

            updates.append(updates_item)

        status_updates = cls(
            updates=updates,
        )

        return status_updates
