from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import Union


T = TypeVar("T", bound="UpgradeStrategy")


@_attrs_define
class UpgradeStrategy:
    """How a new version replaces the old (Marathon's `upgradeStrategy`).

    Attributes:
        minimum_health_capacity (Union[Unset, float]): The share of `instances` (rounded up) kept healthy while a
            deployment runs: an old
            instance is killed only while that many stay healthy. 0 to 1, default 1.
        maximum_over_capacity (Union[Unset, float]): The share of `instances` (rounded up) that may run on top of
            `instances` during a
            deployment. 0 to 1, default 1.
    """

    minimum_health_capacity: Union[Unset, float] = UNSET
    maximum_over_capacity: Union[Unset, float] = UNSET

    def to_dict(self) -> dict[str, Any]:
        minimum_health_capacity = self.minimum_health_capacity

        maximum_over_capacity = self.maximum_over_capacity

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if minimum_health_capacity is not UNSET:
            field_dict["minimum_health_capacity"] = minimum_health_capacity
        if maximum_over_capacity is not UNSET:
            field_dict["maximum_over_capacity"] = maximum_over_capacity

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        minimum_health_capacity = d.pop("minimum_health_capacity", UNSET)

        maximum_over_capacity = d.pop("maximum_over_capacity", UNSET)

        upgrade_strategy = cls(
            minimum_health_capacity=minimum_health_capacity,
            maximum_over_capacity=maximum_over_capacity,
        )

        return upgrade_strategy
