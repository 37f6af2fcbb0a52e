from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.filters import Filters


T = TypeVar("T", bound="Decline")


@_attrs_define
class Decline:
    """`POST /v1/frameworks/{id}/decline`.

    Attributes:
        offer_ids (list[str]):
        filters (Union[Unset, Filters]): Offer filters set by accept and decline.
    """

    offer_ids: list[str]
    filters: Union[Unset, "Filters"] = UNSET

    def to_dict(self) -> dict[str, Any]:
        offer_ids = self.offer_ids

        filters: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.filters, Unset):
            filters = self.filters.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "offer_ids": offer_ids,
            }
        )
        if filters is not UNSET:
            field_dict["filters"] = filters

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.filters import Filters

        d = dict(src_dict)
        offer_ids = cast(list[str], d.pop("offer_ids"))

        _filters = d.pop("filters", UNSET)
        filters: Union[Unset, Filters]
        if isinstance(_filters, Unset):
            filters = UNSET
        else:
            filters = Filters.from_dict(_filters)

        decline = cls(
            offer_ids=offer_ids,
            filters=filters,
        )

        return decline
