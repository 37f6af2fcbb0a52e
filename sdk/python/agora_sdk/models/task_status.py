from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.task_state import TaskState
from typing import cast, Union


T = TypeVar("T", bound="TaskStatus")


@_attrs_define
class TaskStatus:
    """A task's status, as carried by `update` events and reported by agents.

    Attributes:
        task_id (str): A task's id, chosen by its framework and unique within it: 1 to 128 characters of `A-Z a-z 0-9 .
            _ -`, not `.` or `..`.
        framework_id (str): A framework's id, minted at registration and kept across failovers: 1 to 128 characters of
            `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        agent_id (str): An agent's id, minted at its first registration and kept across its restarts: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        state (TaskState): A task's lifecycle state, as in Mesos (`TASK_STAGING` is `staging`, and so on).
        timestamp (float): Seconds since the Unix epoch.
        reason (Union[None, Unset, str]):
        message (Union[None, Unset, str]):
        exit_code (Union[None, Unset, int]):
        healthy (Union[None, Unset, bool]):
        update_id (Union[None, Unset, str]):
        latest_state (Union[None, TaskState, Unset]):
    """

    task_id: str
    framework_id: str
    agent_id: str
    state: TaskState
    timestamp: float
    reason: Union[None, Unset, str] = UNSET
    message: Union[None, Unset, str] = UNSET
    exit_code: Union[None, Unset, int] = UNSET
    healthy: Union[None, Unset, bool] = UNSET
    update_id: Union[None, Unset, str] = UNSET
    latest_state: Union[None, TaskState, Unset] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        task_id = self.task_id

        framework_id = self.framework_id

        agent_id = self.agent_id

        state = self.state.value

        timestamp = self.timestamp

        reason: Union[None, Unset, str]
        if isinstance(self.reason, Unset):
            reason = UNSET
        else:
            reason = self.reason

        message: Union[None, Unset, str]
        if isinstance(self.message, Unset):
            message = UNSET
        else:
            message = self.message

        exit_code: Union[None, Unset, int]
        if isinstance(self.exit_code, Unset):
            exit_code = UNSET
        else:
            exit_code = self.exit_code

        healthy: Union[None, Unset, bool]
        if isinstance(self.healthy, Unset):
            healthy = UNSET
        else:
            healthy = self.healthy

        update_id: Union[None, Unset, str]
        if isinstance(self.update_id, Unset):
            update_id = UNSET
        else:
            update_id = self.update_id

        latest_state: Union[None, Unset, str]
        if isinstance(self.latest_state, Unset):
            latest_state = UNSET
        elif isinstance(self.latest_state, TaskState):
            latest_state = self.latest_state.value
        else:
            latest_state = self.latest_state

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "task_id": task_id,
                "framework_id": framework_id,
                "agent_id": agent_id,
                "state": state,
                "timestamp": timestamp,
            }
        )
        if reason is not UNSET:
            field_dict["reason"] = reason
        if message is not UNSET:
            field_dict["message"] = message
        if exit_code is not UNSET:
            field_dict["exit_code"] = exit_code
        if healthy is not UNSET:
            field_dict["healthy"] = healthy
        if update_id is not UNSET:
            field_dict["update_id"] = update_id
        if latest_state is not UNSET:
            field_dict["latest_state"] = latest_state

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        task_id = d.pop("task_id")

        framework_id = d.pop("framework_id")

        agent_id = d.pop("agent_id")

        state = TaskState(d.pop("state"))

        timestamp = d.pop("timestamp")

        def _parse_reason(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        reason = _parse_reason(d.pop("reason", UNSET))

        def _parse_message(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        message = _parse_message(d.pop("message", UNSET))

        def _parse_exit_code(data: object) -> Union[None, Unset, int]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, int], data)

        exit_code = _parse_exit_code(d.pop("exit_code", UNSET))

        def _parse_healthy(data: object) -> Union[None, Unset, bool]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, bool], data)

        healthy = _parse_healthy(d.pop("healthy", UNSET))

        def _parse_update_id(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        update_id = _parse_update_id(d.pop("update_id", UNSET))

        def _parse_latest_state(data: object) -> Union[None, TaskState, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                latest_state_type_1 = TaskState(data)

                return latest_state_type_1
            except:  # noqa: E722
                pass
            return cast(Union[None, TaskState, Unset], data)

        latest_state = _parse_latest_state(d.pop("latest_state", UNSET))

        task_status = cls(
            task_id=task_id,
            framework_id=framework_id,
            agent_id=agent_id,
            state=state,
            timestamp=timestamp,
            reason=reason,
            message=message,
            exit_code=exit_code,
            healthy=healthy,
            update_id=update_id,
            latest_state=latest_state,
        )

        task_status.additional_properties = d
        return task_status

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
