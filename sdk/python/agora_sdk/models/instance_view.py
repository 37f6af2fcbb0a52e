from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.task_state import TaskState
from typing import cast
from typing import Union


T = TypeVar("T", bound="InstanceView")


@_attrs_define
class InstanceView:
    """One instance: a task of the service's scheduler.

    Attributes:
        task_id (str): A task's id, chosen by its framework and unique within it: 1 to 128 characters of `A-Z a-z 0-9 .
            _ -`, not `.` or `..`.
        agent_id (str): An agent's id, minted at its first registration and kept across its restarts: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        hostname (str):
        ports (list[int]): Its host ports, in the order of the spec's `ports`.
        state (TaskState): A task's lifecycle state, as in Mesos (`TASK_STAGING` is `staging`, and so on).
        ready (bool): Running, healthy where the service has a health check, and ready where it has a
            readiness check: it serves, and is an endpoint.
        version (int):
        launched_at (float): When it was launched (Unix seconds).
        healthy (Union[None, Unset, bool]): The agent's health check's last result; absent before the first, or without
            a check.
        killing (Union[Unset, bool]): Set when the scheduler asked for it to be killed.
    """

    task_id: str
    agent_id: str
    hostname: str
    ports: list[int]
    state: TaskState
    ready: bool
    version: int
    launched_at: float
    healthy: Union[None, Unset, bool] = UNSET
    killing: Union[Unset, bool] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        task_id = self.task_id

        agent_id = self.agent_id

        hostname = self.hostname

        ports = self.ports

        state = self.state.value

        ready = self.ready

        version = self.version

        launched_at = self.launched_at

        healthy: Union[None, Unset, bool]
        if isinstance(self.healthy, Unset):
            healthy = UNSET
        else:
            healthy = self.healthy

        killing = self.killing

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "task_id": task_id,
                "agent_id": agent_id,
                "hostname": hostname,
                "ports": ports,
                "state": state,
                "ready": ready,
                "version": version,
                "launched_at": launched_at,
            }
        )
        if healthy is not UNSET:
            field_dict["healthy"] = healthy
        if killing is not UNSET:
            field_dict["killing"] = killing

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        task_id = d.pop("task_id")

        agent_id = d.pop("agent_id")

        hostname = d.pop("hostname")

        ports = cast(list[int], d.pop("ports"))

        state = TaskState(d.pop("state"))

        ready = d.pop("ready")

        version = d.pop("version")

        launched_at = d.pop("launched_at")

        def _parse_healthy(data: object) -> Union[None, Unset, bool]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, bool], data)

        healthy = _parse_healthy(d.pop("healthy", UNSET))

        killing = d.pop("killing", UNSET)

        instance_view = cls(
            task_id=task_id,
            agent_id=agent_id,
            hostname=hostname,
            ports=ports,
            state=state,
            ready=ready,
            version=version,
            launched_at=launched_at,
            healthy=healthy,
            killing=killing,
        )

        instance_view.additional_properties = d
        return instance_view

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
