from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field


from ..models.unreserve_operation_type import UnreserveOperationType

if TYPE_CHECKING:
    from ..models.resources import Resources


T = TypeVar("T", bound="UnreserveOperation")


@_attrs_define
class UnreserveOperation:
    """Give back part of reserved offers' dynamic reservation. Not in the same accept as a
    launch.

        Attributes:
            resources (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
            type_ (UnreserveOperationType):
    """

    resources: "Resources"
    type_: UnreserveOperationType
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        resources = self.resources.to_dict()

        type_ = self.type_.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "resources": resources,
                "type": type_,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.resources import Resources

        d = dict(src_dict)
        resources = Resources.from_dict(d.pop("resources"))

        type_ = UnreserveOperationType(d.pop("type"))

        unreserve_operation = cls(
            resources=resources,
            type_=type_,
        )

        unreserve_operation.additional_properties = d
        return unreserve_operation

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
