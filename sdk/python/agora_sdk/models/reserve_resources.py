from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import Union

if TYPE_CHECKING:
    from ..models.labels import Labels
    from ..models.resources import Resources


T = TypeVar("T", bound="ReserveResources")


@_attrs_define
class ReserveResources:
    """`POST /v1/agents/{id}/reserve` and `/unreserve`: scalars only. Unreserving takes back the
    newest dynamic reservations of the role first; labels are for reserving.

        Attributes:
            role (str):
            resources (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
            labels (Union[Unset, Labels]): Free-form pairs of strings, kept and shown, never interpreted.
    """

    role: str
    resources: "Resources"
    labels: Union[Unset, "Labels"] = UNSET

    def to_dict(self) -> dict[str, Any]:
        role = self.role

        resources = self.resources.to_dict()

        labels: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.labels, Unset):
            labels = self.labels.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "role": role,
                "resources": resources,
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
        role = d.pop("role")

        resources = Resources.from_dict(d.pop("resources"))

        _labels = d.pop("labels", UNSET)
        labels: Union[Unset, Labels]
        if isinstance(_labels, Unset):
            labels = UNSET
        else:
            labels = Labels.from_dict(_labels)

        reserve_resources = cls(
            role=role,
            resources=resources,
            labels=labels,
        )

        return reserve_resources
