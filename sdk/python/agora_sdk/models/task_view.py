from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field


from ..models.task_state import TaskState

if TYPE_CHECKING:
    from ..models.task_status import TaskStatus
    from ..models.resources import Resources


T = TypeVar("T", bound="TaskView")


@_attrs_define
class TaskView:
    """
    Attributes:
        task_id (str): A task's id, chosen by its framework and unique within it: 1 to 128 characters of `A-Z a-z 0-9 .
            _ -`, not `.` or `..`.
        framework_id (str): A framework's id, minted at registration and kept across failovers: 1 to 128 characters of
            `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        agent_id (str): An agent's id, minted at its first registration and kept across its restarts: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        name (str):
        state (TaskState): A task's lifecycle state, as in Mesos (`TASK_STAGING` is `staging`, and so on).
        resources (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
        status (TaskStatus): A task's status, as carried by `update` events and reported by agents.
    """

    task_id: str
    framework_id: str
    agent_id: str
    name: str
    state: TaskState
    resources: "Resources"
    status: "TaskStatus"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        task_id = self.task_id

        framework_id = self.framework_id

        agent_id = self.agent_id

        name = self.name

        state = self.state.value

        resources = self.resources.to_dict()

        status = self.status.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "task_id": task_id,
                "framework_id": framework_id,
                "agent_id": agent_id,
                "name": name,
                "state": state,
                "resources": resources,
                "status": status,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.task_status import TaskStatus
        from ..models.resources import Resources

        d = dict(src_dict)
        task_id = d.pop("task_id")

        framework_id = d.pop("framework_id")

        agent_id = d.pop("agent_id")

        name = d.pop("name")

        state = TaskState(d.pop("state"))

        resources = Resources.from_dict(d.pop("resources"))

        status = TaskStatus.from_dict(d.pop("status"))

        task_view = cls(
            task_id=task_id,
            framework_id=framework_id,
            agent_id=agent_id,
            name=name,
            state=state,
            resources=resources,
            status=status,
        )

        task_view.additional_properties = d
        return task_view

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
