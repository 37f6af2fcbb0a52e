from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import cast, Union


T = TypeVar("T", bound="ReconcileTask")


@_attrs_define
class ReconcileTask:
    """One task named in a reconcile request.

    Attributes:
        task_id (str): A task's id, chosen by its framework and unique within it: 1 to 128 characters of `A-Z a-z 0-9 .
            _ -`, not `.` or `..`.
        agent_id (Union[None, Unset, str]):
    """

    task_id: str
    agent_id: Union[None, Unset, str] = UNSET

    def to_dict(self) -> dict[str, Any]:
        task_id = self.task_id

        agent_id: Union[None, Unset, str]
        if isinstance(self.agent_id, Unset):
            agent_id = UNSET
        else:
            agent_id = self.agent_id

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "task_id": task_id,
            }
        )
        if agent_id is not UNSET:
            field_dict["agent_id"] = agent_id

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        task_id = d.pop("task_id")

        def _parse_agent_id(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        agent_id = _parse_agent_id(d.pop("agent_id", UNSET))

        reconcile_task = cls(
            task_id=task_id,
            agent_id=agent_id,
        )

        return reconcile_task
