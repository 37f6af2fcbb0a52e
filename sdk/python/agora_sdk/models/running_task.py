from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define


if TYPE_CHECKING:
    from ..models.task_info import TaskInfo
    from ..models.task_status import TaskStatus


T = TypeVar("T", bound="RunningTask")


@_attrs_define
class RunningTask:
    """A task an agent reports at re-registration.

    Attributes:
        framework_id (str): A framework's id, minted at registration and kept across failovers: 1 to 128 characters of
            `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        task (TaskInfo): A task to launch, as a framework sends it in a `launch` operation.
        status (TaskStatus): A task's status, as carried by `update` events and reported by agents.
    """

    framework_id: str
    task: "TaskInfo"
    status: "TaskStatus"

    def to_dict(self) -> dict[str, Any]:
        framework_id = self.framework_id

        task = self.task.to_dict()

        status = self.status.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "framework_id": framework_id,
                "task": task,
                "status": status,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.task_info import TaskInfo
        from ..models.task_status import TaskStatus

        d = dict(src_dict)
        framework_id = d.pop("framework_id")

        task = TaskInfo.from_dict(d.pop("task"))

        status = TaskStatus.from_dict(d.pop("status"))

        running_task = cls(
            framework_id=framework_id,
            task=task,
            status=status,
        )

        return running_task
