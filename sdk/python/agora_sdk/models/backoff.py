from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import Union


T = TypeVar("T", bound="Backoff")


@_attrs_define
class Backoff:
    """The delay before an instance replaces one that failed or exited: `seconds`, then times
    `factor` for each further failure, up to `max_launch_delay_secs`. It resets with a new
    version, and after a quiet spell of the delay plus `max_launch_delay_secs`.

        Attributes:
            seconds (Union[Unset, float]):
            factor (Union[Unset, float]):
            max_launch_delay_secs (Union[Unset, float]):
    """

    seconds: Union[Unset, float] = UNSET
    factor: Union[Unset, float] = UNSET
    max_launch_delay_secs: Union[Unset, float] = UNSET

    def to_dict(self) -> dict[str, Any]:
        seconds = self.seconds

        factor = self.factor

        max_launch_delay_secs = self.max_launch_delay_secs

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if seconds is not UNSET:
            field_dict["seconds"] = seconds
        if factor is not UNSET:
            field_dict["factor"] = factor
        if max_launch_delay_secs is not UNSET:
            field_dict["max_launch_delay_secs"] = max_launch_delay_secs

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        seconds = d.pop("seconds", UNSET)

        factor = d.pop("factor", UNSET)

        max_launch_delay_secs = d.pop("max_launch_delay_secs", UNSET)

        backoff = cls(
            seconds=seconds,
            factor=factor,
            max_launch_delay_secs=max_launch_delay_secs,
        )

        return backoff
