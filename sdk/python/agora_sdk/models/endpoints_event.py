from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field


if TYPE_CHECKING:
    from ..models.endpoint import Endpoint


T = TypeVar("T", bound="EndpointsEvent")


@_attrs_define
class EndpointsEvent:
    """Data of the `endpoints_changed` event: what changed of a service's endpoints since the last
    such event. A new leader's first one lists them all as added; a reader that starts late
    reads `GET /v1/services/{id}/endpoints` first, then applies the changes.

        Attributes:
            service_id (str):
            added (list['Endpoint']):
            removed (list['Endpoint']):
    """

    service_id: str
    added: list["Endpoint"]
    removed: list["Endpoint"]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        service_id = self.service_id

        added = []
        for added_item_data in self.added:
            added_item = added_item_data.to_dict()
            added.append(added_item)

        removed = []
        for removed_item_data in self.removed:
            removed_item = removed_item_data.to_dict()
            removed.append(removed_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "service_id": service_id,
                "added": added,
                "removed": removed,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.endpoint import Endpoint

        d = dict(src_dict)
        service_id = d.pop("service_id")

        added = []
        _added = d.pop("added")
        for added_item_data in _added:
            added_item = Endpoint.from_dict(added_item_data)

            added.append(added_item)

        removed = []
        _removed = d.pop("removed")
        for removed_item_data in _removed:
            removed_item = Endpoint.from_dict(removed_item_data)

            removed.append(removed_item)

        endpoints_event = cls(
            service_id=service_id,
            added=added,
            removed=removed,
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
