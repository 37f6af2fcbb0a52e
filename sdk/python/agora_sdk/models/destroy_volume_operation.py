from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field


from ..models.destroy_volume_operation_type import DestroyVolumeOperationType


T = TypeVar("T", bound="DestroyVolumeOperation")


@_attrs_define
class DestroyVolumeOperation:
    """Destroy a persistent volume the offers carry, with its files: its disk goes back to
    the reservation. Not in the same accept as a launch.

        Attributes:
            id (str):
            type_ (DestroyVolumeOperationType):
    """

    id: str
    type_: DestroyVolumeOperationType
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        type_ = self.type_.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "type": type_,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        type_ = DestroyVolumeOperationType(d.pop("type"))

        destroy_volume_operation = cls(
            id=id,
            type_=type_,
        )

        destroy_volume_operation.additional_properties = d
        return destroy_volume_operation

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
