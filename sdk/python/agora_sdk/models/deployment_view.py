from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.deployment_step import DeploymentStep


T = TypeVar("T", bound="DeploymentView")


@_attrs_define
class DeploymentView:
    """A deployment: bringing a service to a version and an instance count.

    Attributes:
        id (str):
        service_id (str):
        from_instances (int):
        to_version (int):
        to_instances (int):
        started_at (float): When it began (Unix seconds).
        steps (list['DeploymentStep']):
        from_version (Union[None, Unset, int]): The version the service was at when it began (absent for a new service).
    """

    id: str
    service_id: str
    from_instances: int
    to_version: int
    to_instances: int
    started_at: float
    steps: list["DeploymentStep"]
    from_version: Union[None, Unset, int] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        service_id = self.service_id

        from_instances = self.from_instances

        to_version = self.to_version

        to_instances = self.to_instances

        started_at = self.started_at

        steps = []
        for steps_item_data in self.steps:
            steps_item = steps_item_data.to_dict()
            steps.append(steps_item)

        from_version: Union[None, Unset, int]
        if isinstance(self.from_version, Unset):
            from_version = UNSET
        else:
            from_version = self.from_version

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "service_id": service_id,
                "from_instances": from_instances,
                "to_version": to_version,
                "to_instances": to_instances,
                "started_at": started_at,
                "steps": steps,
            }
        )
        if from_version is not UNSET:
            field_dict["from_version"] = from_version

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.deployment_step import DeploymentStep

        d = dict(src_dict)
        id = d.pop("id")

        service_id = d.pop("service_id")

        from_instances = d.pop("from_instances")

        to_version = d.pop("to_version")

        to_instances = d.pop("to_instances")

        started_at = d.pop("started_at")

        steps = []
        _steps = d.pop("steps")
        for steps_item_data in _steps:
            steps_item = DeploymentStep.from_dict(steps_item_data)

            steps.append(steps_item)

        def _parse_from_version(data: object) -> Union[None, Unset, int]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, int], data)

        from_version = _parse_from_version(d.pop("from_version", UNSET))

        deployment_view = cls(
            id=id,
            service_id=service_id,
            from_instances=from_instances,
            to_version=to_version,
            to_instances=to_instances,
            started_at=started_at,
            steps=steps,
            from_version=from_version,
        )

        deployment_view.additional_properties = d
        return deployment_view

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
