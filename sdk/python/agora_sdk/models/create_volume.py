from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define


T = TypeVar("T", bound="CreateVolume")


@_attrs_define
class CreateVolume:
    """`POST /v1/agents/{id}/volumes`: a persistent volume on a role's reserved, unused disk.

    Attributes:
        role (str):
        id (str): Unique on the agent.
        disk (float): MiB.
        container_path (str): Where it appears in a task's sandbox: a relative path.
    """

    role: str
    id: str
    disk: float
    container_path: str

    def to_dict(self) -> dict[str, Any]:
        role = self.role

        id = self.id

        disk = self.disk

        container_path = self.container_path

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "role": role,
                "id": id,
                "disk": disk,
                "container_path": container_path,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        role = d.pop("role")

        id = d.pop("id")

        disk = d.pop("disk")

        container_path = d.pop("container_path")

        create_volume = cls(
            role=role,
            id=id,
            disk=disk,
            container_path=container_path,
        )

        return create_volume
