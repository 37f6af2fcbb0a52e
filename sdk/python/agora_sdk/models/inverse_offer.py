from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field


from typing import cast


T = TypeVar("T", bound="InverseOffer")


@_attrs_define
class InverseOffer:
    """
    Attributes:
        id (str): An offer's id; an offer may be used by one accept or decline only: 1 to 128 characters of `A-Z a-z 0-9
            . _ -`, not `.` or `..`.
        framework_id (str): A framework's id, minted at registration and kept across failovers: 1 to 128 characters of
            `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        agent_id (str): An agent's id, minted at its first registration and kept across its restarts: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        hostname (str):
        deadline (float): When the tasks still on the agent are killed (Unix seconds).
        tasks (list[str]): This framework's tasks on the agent.
    """

    id: str
    framework_id: str
    agent_id: str
    hostname: str
    deadline: float
    tasks: list[str]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        framework_id = self.framework_id

        agent_id = self.agent_id

        hostname = self.hostname

        deadline = self.deadline

        tasks = self.tasks

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "framework_id": framework_id,
                "agent_id": agent_id,
                "hostname": hostname,
                "deadline": deadline,
                "tasks": tasks,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        framework_id = d.pop("framework_id")

        agent_id = d.pop("agent_id")

        hostname = d.pop("hostname")

        deadline = d.pop("deadline")

        tasks = cast(list[str], d.pop("tasks"))

        inverse_offer = cls(
            id=id,
            framework_id=framework_id,
            agent_id=agent_id,
            hostname=hostname,
            deadline=deadline,
            tasks=tasks,
        )

        inverse_offer.additional_properties = d
        return inverse_offer

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
