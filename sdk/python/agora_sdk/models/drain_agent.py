from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import Union


T = TypeVar("T", bound="DrainAgent")


@_attrs_define
class DrainAgent:
    """`POST /v1/agents/{id}/drain`.

    Attributes:
        grace_period_secs (Union[Unset, float]): Seconds the frameworks have to move their tasks before those still on
            the agent are
            killed (default 0: killed now).
    """

    grace_period_secs: Union[Unset, float] = UNSET

    def to_dict(self) -> dict[str, Any]:
        grace_period_secs = self.grace_period_secs

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if grace_period_secs is not UNSET:
            field_dict["grace_period_secs"] = grace_period_secs

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        grace_period_secs = d.pop("grace_period_secs", UNSET)

        drain_agent = cls(
            grace_period_secs=grace_period_secs,
        )

        return drain_agent
