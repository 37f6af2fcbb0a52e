from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field


T = TypeVar("T", bound="DeploymentStep")


@_attrs_define
class DeploymentStep:
    """One step of a deployment and how far it got.

    Attributes:
        action (str): `start_instances` (of the new version, until healthy) or `stop_instances` (of the
            versions before, and those over the count).
        target (int):
        done (int):
    """

    action: str
    target: int
    done: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        action = self.action

        target = self.target

        done = self.done

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "action": action,
                "target": target,
                "done": done,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        action = d.pop("action")

        target = d.pop("target")

        done = d.pop("done")

        deployment_step = cls(
            action=action,
            target=target,
            done=done,
        )

        deployment_step.additional_properties = d
        return deployment_step

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
