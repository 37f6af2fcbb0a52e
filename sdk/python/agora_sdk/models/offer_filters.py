from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import Union

if TYPE_CHECKING:
    from ..models.offer_filters_min_allocatable_resources_item import (
        OfferFiltersMinAllocatableResourcesItem,
    )


T = TypeVar("T", bound="OfferFilters")


@_attrs_define
class OfferFilters:
    """Filters on the offers made to one role of a framework.

    Attributes:
        min_allocatable_resources (Union[Unset, list['OfferFiltersMinAllocatableResourcesItem']]): An offer is made only
            if it holds at least one of these amounts (by scalar name:
            `{"cpus": 1, "mem": 512}`), as Mesos's `min_allocatable_resources`. Empty: the
            cluster's minimum (`--min-allocatable`).
    """

    min_allocatable_resources: Union[
        Unset, list["OfferFiltersMinAllocatableResourcesItem"]
    ] = UNSET

    def to_dict(self) -> dict[str, Any]:
        min_allocatable_resources: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.min_allocatable_resources, Unset):
            min_allocatable_resources = []
            for min_allocatable_resources_item_data in self.min_allocatable_resources:
                min_allocatable_resources_item = (
                    min_allocatable_resources_item_data.to_dict()
                )
                min_allocatable_resources.append(min_allocatable_resources_item)

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if min_allocatable_resources is not UNSET:
            field_dict["min_allocatable_resources"] = min_allocatable_resources

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.offer_filters_min_allocatable_resources_item import (
            OfferFiltersMinAllocatableResourcesItem,
        )

        d = dict(src_dict)
        min_allocatable_resources = []
        _min_allocatable_resources = d.pop("min_allocatable_resources", UNSET)
        for min_allocatable_resources_item_data in _min_allocatable_resources or []:
            min_allocatable_resources_item = (
                OfferFiltersMinAllocatableResourcesItem.from_dict(
                    min_allocatable_resources_item_data
                )
            )

            min_allocatable_resources.append(min_allocatable_resources_item)

        offer_filters = cls(
            min_allocatable_resources=min_allocatable_resources,
        )

        return offer_filters
