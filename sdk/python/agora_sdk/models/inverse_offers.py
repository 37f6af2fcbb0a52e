from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field


if TYPE_CHECKING:
    from ..models.inverse_offer import InverseOffer


T = TypeVar("T", bound="InverseOffers")


@_attrs_define
class InverseOffers:
    """Data of the `inverse_offers` event: an operator is draining agents this framework has tasks
    on. Move them before the deadline; a `rescind` with the same id means the agent was
    reactivated and the tasks may stay.

        Attributes:
            inverse_offers (list['InverseOffer']):
    """

    inverse_offers: list["InverseOffer"]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        inverse_offers = []
        for inverse_offers_item_data in self.inverse_offers:
            inverse_offers_item = inverse_offers_item_data.to_dict()
            inverse_offers.append(inverse_offers_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "inverse_offers": inverse_offers,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.inverse_offer import InverseOffer

        d = dict(src_dict)
        inverse_offers = []
        _inverse_offers = d.pop("inverse_offers")
        for inverse_offers_item_data in _inverse_offers:
            inverse_offers_item = InverseOffer.from_dict(inverse_offers_item_data)

            inverse_offers.append(inverse_offers_item)

        inverse_offers = cls(
            inverse_offers=inverse_offers,
        )

        inverse_offers.additional_properties = d
        return inverse_offers

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
