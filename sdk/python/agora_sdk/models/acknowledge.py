from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define


T = TypeVar("T", bound="Acknowledge")


@_attrs_define
class Acknowledge:
    """`POST /v1/frameworks/{id}/acknowledge`.

    Attributes:
        task_id (str): A task's id, chosen by its framework and unique within it: 1 to 128 characters of `A-Z a-z 0-9 .
            _ -`, not `.` or `..`.
        agent_id (str): An agent's id, minted at its first registration and kept across its restarts: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        update_id (str): A status update's id, which the framework acknowledges: 1 to 128 characters of `A-Z a-z 0-9 . _
            -`, not `.` or `..`.
    """

    task_id: str
    agent_id: str
    update_id: str

    def to_dict(self) -> dict[str, Any]:
        task_id = self.task_id

        agent_id = self.agent_id

        update_id = self.update_id

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "task_id": task_id,
                "agent_id": agent_id,
                "update_id": update_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        task_id = d.pop("task_id")

        agent_id = d.pop("agent_id")

        update_id = d.pop("update_id")

        acknowledge = cls(
            task_id=task_id,
            agent_id=agent_id,
            update_id=update_id,
        )

        return acknowledge
