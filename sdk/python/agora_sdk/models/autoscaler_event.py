from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import cast
from typing import Union


T = TypeVar("T", bound="AutoscalerEvent")


@_attrs_define
class AutoscalerEvent:
    """`POST /v1/autoscaler/events`, and the data of the operator stream's `autoscaler` event: a
    decision an autoscaler made (or, with `dry_run`, would have made), for operators to follow
    on the same stream as what it acted on.

        Attributes:
            action (str): What it decided: `launch`, `launch_failed`, `drain`, `reactivate`, `terminate`,
                `unplaceable`, `scale_in_skipped`, ...: 1 to 64 characters, no control characters.
            reason (str): Why, for people: at most 4096 characters.
            holder (str): The replica of the autoscaler that decided (the holder of its lease): at most 255
                characters, no control characters.
            dry_run (Union[Unset, bool]): Decided but not done: the autoscaler runs in dry-run mode.
            pool (Union[None, Unset, str]): The pool of instances it concerns (at most 255 characters).
            instance_type (Union[None, Unset, str]): The instance type it launched or would launch (at most 255 characters).
            instance_ids (Union[Unset, list[str]]): The cloud's ids of the instances concerned: at most 1000, each at most
                255 characters.
            agent_id (Union[None, Unset, str]):
            count (Union[Unset, int]): How many: instances launched, tasks that cannot be placed, ...
    """

    action: str
    reason: str
    holder: str
    dry_run: Union[Unset, bool] = UNSET
    pool: Union[None, Unset, str] = UNSET
    instance_type: Union[None, Unset, str] = UNSET
    instance_ids: Union[Unset, list[str]] = UNSET
    agent_id: Union[None, Unset, str] = UNSET
    count: Union[Unset, int] = UNSET

    def to_dict(self) -> dict[str, Any]:
        action = self.action

        reason = self.reason

        holder = self.holder

        dry_run = self.dry_run

        pool: Union[None, Unset, str]
        if isinstance(self.pool, Unset):
            pool = UNSET
        else:
            pool = self.pool

        instance_type: Union[None, Unset, str]
        if isinstance(self.instance_type, Unset):
            instance_type = UNSET
        else:
            instance_type = self.instance_type

        instance_ids: Union[Unset, list[str]] = UNSET
        if not isinstance(self.instance_ids, Unset):
            instance_ids = self.instance_ids

        agent_id: Union[None, Unset, str]
        if isinstance(self.agent_id, Unset):
            agent_id = UNSET
        else:
            agent_id = self.agent_id

        count = self.count

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "action": action,
                "reason": reason,
                "holder": holder,
            }
        )
        if dry_run is not UNSET:
            field_dict["dry_run"] = dry_run
        if pool is not UNSET:
            field_dict["pool"] = pool
        if instance_type is not UNSET:
            field_dict["instance_type"] = instance_type
        if instance_ids is not UNSET:
            field_dict["instance_ids"] = instance_ids
        if agent_id is not UNSET:
            field_dict["agent_id"] = agent_id
        if count is not UNSET:
            field_dict["count"] = count

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        action = d.pop("action")

        reason = d.pop("reason")

        holder = d.pop("holder")

        dry_run = d.pop("dry_run", UNSET)

        def _parse_pool(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        pool = _parse_pool(d.pop("pool", UNSET))

        def _parse_instance_type(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        instance_type = _parse_instance_type(d.pop("instance_type", UNSET))

        instance_ids = cast(list[str], d.pop("instance_ids", UNSET))

        def _parse_agent_id(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        agent_id = _parse_agent_id(d.pop("agent_id", UNSET))

        count = d.pop("count", UNSET)

        autoscaler_event = cls(
            action=action,
            reason=reason,
            holder=holder,
            dry_run=dry_run,
            pool=pool,
            instance_type=instance_type,
            instance_ids=instance_ids,
            agent_id=agent_id,
            count=count,
        )

        return autoscaler_event
