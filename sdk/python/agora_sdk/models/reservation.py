from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import Union

if TYPE_CHECKING:
    from ..models.labels import Labels
    from ..models.resources import Resources


T = TypeVar("T", bound="Reservation")


@_attrs_define
class Reservation:
    """A dynamic reservation: part of an agent offered only to a role (and the roles below it),
    made by `POST /v1/agents/{id}/reserve`.

        Attributes:
            role (str):
            resources (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
            labels (Union[Unset, Labels]): Free-form pairs of strings, kept and shown, never interpreted.
            principal (Union[Unset, str]): Who made it.
    """

    role: str
    resources: "Resources"
    labels: Union[Unset, "Labels"] = UNSET
    principal: Union[Unset, str] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        role = self.role

        resources = self.resources.to_dict()

        labels: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.labels, Unset):
            labels = self.labels.to_dict()

        principal = self.principal

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "role": role,
                "resources": resources,
            }
        )
        if labels is not UNSET:
            field_dict["labels"] = labels
        if principal is not UNSET:
            field_dict["principal"] = principal

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.labels import Labels
        from ..models.resources import Resources

        d = dict(src_dict)
        role = d.pop("role")

        resources = Resources.from_dict(d.pop("resources"))

        _labels = d.pop("labels", UNSET)
        labels: Union[Unset, Labels]
        if isinstance(_labels, Unset):
            labels = UNSET
        else:
            labels = Labels.from_dict(_labels)

        principal = d.pop("principal", UNSET)

        reservation = cls(
            role=role,
            resources=resources,
            labels=labels,
            principal=principal,
        )

        reservation.additional_properties = d
        return reservation

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
