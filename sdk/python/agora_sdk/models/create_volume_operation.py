from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field


from ..models.create_volume_operation_type import CreateVolumeOperationType


T = TypeVar("T", bound="CreateVolumeOperation")


@_attrs_define
class CreateVolumeOperation:
    """Make a persistent volume of `disk` MiB from the reserved disk of the offers (or of a
    `reserve` before it in the same accept). Not in the same accept as a launch.

        Attributes:
            id (str):
            disk (float):
            container_path (str):
            type_ (CreateVolumeOperationType):
    """

    id: str
    disk: float
    container_path: str
    type_: CreateVolumeOperationType
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        disk = self.disk

        container_path = self.container_path

        type_ = self.type_.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "disk": disk,
                "container_path": container_path,
                "type": type_,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        disk = d.pop("disk")

        container_path = d.pop("container_path")

        type_ = CreateVolumeOperationType(d.pop("type"))

        create_volume_operation = cls(
            id=id,
            disk=disk,
            container_path=container_path,
            type_=type_,
        )

        create_volume_operation.additional_properties = d
        return create_volume_operation

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
