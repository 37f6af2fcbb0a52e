from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define


if TYPE_CHECKING:
    from ..models.demand_tasks import DemandTasks


T = TypeVar("T", bound="Demand")


@_attrs_define
class Demand:
    """`PUT /v1/frameworks/{id}/demand`: the work a framework has waiting for resources, declared so
    that an autoscaler can see what no agent has room (or the attributes) for. It replaces what
    the framework declared before; an empty list clears it. The master only keeps it: offers do
    not depend on it.

        Attributes:
            tasks (list['DemandTasks']): At most 1000 entries.
    """

    tasks: list["DemandTasks"]

    def to_dict(self) -> dict[str, Any]:
        tasks = []
        for tasks_item_data in self.tasks:
            tasks_item = tasks_item_data.to_dict()
            tasks.append(tasks_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "tasks": tasks,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.demand_tasks import DemandTasks

        d = dict(src_dict)
        tasks = []
        _tasks = d.pop("tasks")
        for tasks_item_data in _tasks:
            tasks_item = DemandTasks.from_dict(tasks_item_data)

            tasks.append(tasks_item)

        demand = cls(
            tasks=tasks,
        )

        return demand
