from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from ..models.volume_mode import VolumeMode
from typing import Union


T = TypeVar("T", bound="ContainerVolume")


@_attrs_define
class ContainerVolume:
    """A directory of the agent's host mounted into the container. The agent mounts only paths
    under the roots its operator allows (`--host-volumes`); it refuses the task otherwise.

        Attributes:
            container_path (str): An absolute path inside the container.
            host_path (str): An absolute path on the agent.
            mode (Union[Unset, VolumeMode]):
    """

    container_path: str
    host_path: str
    mode: Union[Unset, VolumeMode] = UNSET

    def to_dict(self) -> dict[str, Any]:
        container_path = self.container_path

        host_path = self.host_path

        mode: Union[Unset, str] = UNSET
        if not isinstance(self.mode, Unset):
            mode = self.mode.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "container_path": container_path,
                "host_path": host_path,
            }
        )
        if mode is not UNSET:
            field_dict["mode"] = mode

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        container_path = d.pop("container_path")

        host_path = d.pop("host_path")

        _mode = d.pop("mode", UNSET)
        mode: Union[Unset, VolumeMode]
        if isinstance(_mode, Unset):
            mode = UNSET
        else:
            mode = VolumeMode(_mode)

        container_volume = cls(
            container_path=container_path,
            host_path=host_path,
            mode=mode,
        )

        return container_volume
