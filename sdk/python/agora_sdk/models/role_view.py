from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import Union

if TYPE_CHECKING:
    from ..models.quota import Quota
    from ..models.resources import Resources


T = TypeVar("T", bound="RoleView")


@_attrs_define
class RoleView:
    """A role: its settings and what its frameworks hold now.

    Attributes:
        role (str):
        weight (float):
        quota (Quota): Amounts by scalar resource name (`cpus`, `mem` in MiB, `disk` in MiB, `gpus`); a resource
            not named is not constrained.
        allocated (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
        dominant_share (float): `allocated` over the cluster's total, the largest over scalar resources.
        frameworks (int): Frameworks registered in the role itself.
        reserved (Union[Unset, Resources]): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive
            ranges.
        consumed (Union[Unset, Resources]): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive
            ranges.
    """

    role: str
    weight: float
    quota: "Quota"
    allocated: "Resources"
    dominant_share: float
    frameworks: int
    reserved: Union[Unset, "Resources"] = UNSET
    consumed: Union[Unset, "Resources"] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        role = self.role

        weight = self.weight

        quota = self.quota.to_dict()

        allocated = self.allocated.to_dict()

        dominant_share = self.dominant_share

        frameworks = self.frameworks

        reserved: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.reserved, Unset):
            reserved = self.reserved.to_dict()

        consumed: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.consumed, Unset):
            consumed = self.consumed.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "role": role,
                "weight": weight,
                "quota": quota,
                "allocated": allocated,
                "dominant_share": dominant_share,
                "frameworks": frameworks,
            }
        )
        if reserved is not UNSET:
            field_dict["reserved"] = reserved
        if consumed is not UNSET:
            field_dict["consumed"] = consumed

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.quota import Quota
        from ..models.resources import Resources

        d = dict(src_dict)
        role = d.pop("role")

        weight = d.pop("weight")

        quota = Quota.from_dict(d.pop("quota"))

        allocated = Resources.from_dict(d.pop("allocated"))

        dominant_share = d.pop("dominant_share")

        frameworks = d.pop("frameworks")

        _reserved = d.pop("reserved", UNSET)
        reserved: Union[Unset, Resources]
        if isinstance(_reserved, Unset):
            reserved = UNSET
        else:
            reserved = Resources.from_dict(_reserved)

        _consumed = d.pop("consumed", UNSET)
        consumed: Union[Unset, Resources]
        if isinstance(_consumed, Unset):
            consumed = UNSET
        else:
            consumed = Resources.from_dict(_consumed)

        role_view = cls(
            role=role,
            weight=weight,
            quota=quota,
            allocated=allocated,
            dominant_share=dominant_share,
            frameworks=frameworks,
            reserved=reserved,
            consumed=consumed,
        )

        role_view.additional_properties = d
        return role_view

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
