from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field


if TYPE_CHECKING:
    from ..models.offer_constraint import OfferConstraint


T = TypeVar("T", bound="RegisterFrameworkOfferConstraints")


@_attrs_define
class RegisterFrameworkOfferConstraints:
    """Per role: offers for the role come only from agents that match one of these groups, a
    group matching when all its constraints do (Mesos 1.11's offer constraints). A role
    not named is offered every agent.

    """

    additional_properties: dict[str, list[list["OfferConstraint"]]] = _attrs_field(
        init=False, factory=dict
    )

    def to_dict(self) -> dict[str, Any]:
        field_dict: dict[str, Any] = {}
        for prop_name, prop in self.additional_properties.items():
            field_dict[prop_name] = []
            for additional_property_item_data in prop:
                additional_property_item = []
                for additional_property_item_item_data in additional_property_item_data:
                    additional_property_item_item = (
                        additional_property_item_item_data.to_dict()
                    )
                    additional_property_item.append(additional_property_item_item)

                field_dict[prop_name].append(additional_property_item)

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.offer_constraint import OfferConstraint

        d = dict(src_dict)
        register_framework_offer_constraints = cls()

        additional_properties = {}
        for prop_name, prop_dict in d.items():
            additional_property = []
            _additional_property = prop_dict
            for additional_property_item_data in _additional_property:
                additional_property_item = []
                _additional_property_item = additional_property_item_data
                for additional_property_item_item_data in _additional_property_item:
                    additional_property_item_item = OfferConstraint.from_dict(
                        additional_property_item_item_data
                    )

                    additional_property_item.append(additional_property_item_item)

                additional_property.append(additional_property_item)

            additional_properties[prop_name] = additional_property

        register_framework_offer_constraints.additional_properties = (
            additional_properties
        )
        return register_framework_offer_constraints

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> list[list["OfferConstraint"]]:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: list[list["OfferConstraint"]]) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
