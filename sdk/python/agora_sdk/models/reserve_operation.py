from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.reserve_operation_type import ReserveOperationType
from typing import Union

if TYPE_CHECKING:
    from ..models.labels import Labels
    from ..models.resources import Resources


T = TypeVar("T", bound="ReserveOperation")


@_attrs_define
class ReserveOperation:
    """Reserve part of unreserved offers for the offers' role (a dynamic reservation, with
    labels): it is offered again, reserved. Not in the same accept as a launch.

        Attributes:
            resources (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
            type_ (ReserveOperationType):
            labels (Union[Unset, Labels]): Free-form pairs of strings, kept and shown, never interpreted.
    """

    resources: "Resources"
    type_: ReserveOperationType
    labels: Union[Unset, "Labels"] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        resources = self.resources.to_dict()

        type_ = self.type_.value

        labels: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.labels, Unset):
            labels = self.labels.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "resources": resources,
                "type": type_,
            }
        )
        if labels is not UNSET:
            field_dict["labels"] = labels

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.labels import Labels
        from ..models.resources import Resources

        d = dict(src_dict)
        resources = Resources.from_dict(d.pop("resources"))

        type_ = ReserveOperationType(d.pop("type"))

        _labels = d.pop("labels", UNSET)
        labels: Union[Unset, Labels]
        if isinstance(_labels, Unset):
            labels = UNSET
        else:
            labels = Labels.from_dict(_labels)

        reserve_operation = cls(
            resources=resources,
            type_=type_,
            labels=labels,
        )

        reserve_operation.additional_properties = d
        return reserve_operation

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
