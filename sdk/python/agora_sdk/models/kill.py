from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import cast, Union


T = TypeVar("T", bound="Kill")


@_attrs_define
class Kill:
    """`POST /v1/frameworks/{id}/tasks/{task_id}/kill`.

    Attributes:
        grace_period_secs (Union[None, Unset, float]): Overrides the task's grace period between SIGTERM and SIGKILL.
    """

    grace_period_secs: Union[None, Unset, float] = UNSET

    def to_dict(self) -> dict[str, Any]:
        grace_period_secs: Union[None, Unset, float]
        if isinstance(self.grace_period_secs, Unset):
            grace_period_secs = UNSET
        else:
            grace_period_secs = self.grace_period_secs

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if grace_period_secs is not UNSET:
            field_dict["grace_period_secs"] = grace_period_secs

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_grace_period_secs(data: object) -> Union[None, Unset, float]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, float], data)

        grace_period_secs = _parse_grace_period_secs(d.pop("grace_period_secs", UNSET))

        kill = cls(
            grace_period_secs=grace_period_secs,
        )

        return kill
