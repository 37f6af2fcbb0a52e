from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define


T = TypeVar("T", bound="Scale")


@_attrs_define
class Scale:
    """`POST /v1/services/{id}/scale`.

    Attributes:
        instances (int):
    """

    instances: int

    def to_dict(self) -> dict[str, Any]:
        instances = self.instances

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "instances": instances,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        instances = d.pop("instances")

        scale = cls(
            instances=instances,
        )

        return scale
