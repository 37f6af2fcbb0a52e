from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field


if TYPE_CHECKING:
    from ..models.service_spec import ServiceSpec


T = TypeVar("T", bound="ServiceVersion")


@_attrs_define
class ServiceVersion:
    """One kept version of a service.

    Attributes:
        version (int):
        created_at (float): When it was made (Unix seconds).
        spec (ServiceSpec): `PUT /v1/services/{id}`: what a service runs, how many, where and how it is rolled out.
    """

    version: int
    created_at: float
    spec: "ServiceSpec"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        version = self.version

        created_at = self.created_at

        spec = self.spec.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "version": version,
                "created_at": created_at,
                "spec": spec,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.service_spec import ServiceSpec

        d = dict(src_dict)
        version = d.pop("version")

        created_at = d.pop("created_at")

        spec = ServiceSpec.from_dict(d.pop("spec"))

        service_version = cls(
            version=version,
            created_at=created_at,
            spec=spec,
        )

        service_version.additional_properties = d
        return service_version

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
