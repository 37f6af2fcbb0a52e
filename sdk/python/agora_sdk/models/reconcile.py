from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import Union

if TYPE_CHECKING:
    from ..models.reconcile_task import ReconcileTask


T = TypeVar("T", bound="Reconcile")


@_attrs_define
class Reconcile:
    """`POST /v1/frameworks/{id}/reconcile`: the named tasks, or all of the framework's when empty.

    Attributes:
        tasks (Union[Unset, list['ReconcileTask']]):
    """

    tasks: Union[Unset, list["ReconcileTask"]] = UNSET

    def to_dict(self) -> dict[str, Any]:
        tasks: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.tasks, Unset):
            tasks = []
            for tasks_item_data in self.tasks:
                tasks_item = tasks_item_data.to_dict()
                tasks.append(tasks_item)

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if tasks is not UNSET:
            field_dict["tasks"] = tasks

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.reconcile_task import ReconcileTask

        d = dict(src_dict)
        tasks = []
        _tasks = d.pop("tasks", UNSET)
        for tasks_item_data in _tasks or []:
            tasks_item = ReconcileTask.from_dict(tasks_item_data)

            tasks.append(tasks_item)

        reconcile = cls(
            tasks=tasks,
        )

        return reconcile
