from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field


T = TypeVar("T", bound="AgentRegistered")


@_attrs_define
class AgentRegistered:
    """The answer to an agent's registration.

    Attributes:
        agent_id (str): An agent's id, minted at its first registration and kept across its restarts: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        heartbeat_interval_secs (float): How often the agent must call `POST /v1/agents/{id}/heartbeat`.
    """

    agent_id: str
    heartbeat_interval_secs: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        agent_id = self.agent_id

        heartbeat_interval_secs = self.heartbeat_interval_secs

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "agent_id": agent_id,
                "heartbeat_interval_secs": heartbeat_interval_secs,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        agent_id = d.pop("agent_id")

        heartbeat_interval_secs = d.pop("heartbeat_interval_secs")

        agent_registered = cls(
            agent_id=agent_id,
            heartbeat_interval_secs=heartbeat_interval_secs,
        )

        agent_registered.additional_properties = d
        return agent_registered

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
