from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import Union


T = TypeVar("T", bound="Volume")


@_attrs_define
class Volume:
    """A persistent volume: reserved disk of one agent, kept in a directory outside task
    sandboxes, that outlives the tasks using it. Made by the `create_volume` operation (or
    `POST /v1/agents/{id}/volumes`) and offered again to its role whenever no task uses it.

        Attributes:
            id (str): Unique on its agent.
            role (str): The role whose reservation holds its disk.
            disk (float): MiB of the reservation's disk it takes.
            container_path (str): Where it appears in the sandbox of a task that uses it: a relative path.
            principal (Union[Unset, str]): Who made it.
    """

    id: str
    role: str
    disk: float
    container_path: str
    principal: Union[Unset, str] = UNSET

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        role = self.role

        disk = self.disk

        container_path = self.container_path

        principal = self.principal

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "role": role,
                "disk": disk,
                "container_path": container_path,
            }
        )
        if principal is not UNSET:
            field_dict["principal"] = principal

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        role = d.pop("role")

        disk = d.pop("disk")

        container_path = d.pop("container_path")

        principal = d.pop("principal", UNSET)

        volume = cls(
            id=id,
            role=role,
            disk=disk,
            container_path=container_path,
            principal=principal,
        )

        return volume
