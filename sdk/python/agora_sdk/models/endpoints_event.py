from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field


if TYPE_CHECKING:
    from ..models.endpoints import Endpoints


T = TypeVar("T", bound="EndpointsEvent")


@_attrs_define
class EndpointsEvent:
    """Data of the `endpoints_changed` event.

    Attributes:
        endpoints (Endpoints): `GET /v1/services/{id}/endpoints`: the instances that are running and healthy.
    """

    endpoints: "Endpoints"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        endpoints = self.endpoints.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "endpoints": endpoints,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.endpoints import Endpoints

        d = dict(src_dict)
        endpoints = Endpoints.from_dict(d.pop("endpoints"))

        endpoints_event = cls(
            endpoints=endpoints,
        )

        endpoints_event.additional_properties = d
        return endpoints_event

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
