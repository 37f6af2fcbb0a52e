from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import Union

if TYPE_CHECKING:
    from ..models.task_info import TaskInfo
    from ..models.volume import Volume


T = TypeVar("T", bound="LaunchCommand")


@_attrs_define
class LaunchCommand:
    """Data of the `launch` command.

    Attributes:
        framework_id (str): A framework's id, minted at registration and kept across failovers: 1 to 128 characters of
            `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        task (TaskInfo): A task to launch, as a framework sends it in a `launch` operation.
        volumes (Union[Unset, list['Volume']]): The persistent volumes the task names, to link into its sandbox.
    """

    framework_id: str
    task: "TaskInfo"
    volumes: Union[Unset, list["Volume"]] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        framework_id = self.framework_id

        task = self.task.to_dict()

        volumes: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.volumes, Unset):
            volumes = []
            for volumes_item_data in self.volumes:
                volumes_item = volumes_item_data.to_dict()
                volumes.append(volumes_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "framework_id": framework_id,
                "task": task,
            }
        )
        if volumes is not UNSET:
            field_dict["volumes"] = volumes

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.task_info import TaskInfo
        from ..models.volume import Volume

        d = dict(src_dict)
        framework_id = d.pop("framework_id")

        task = TaskInfo.from_dict(d.pop("task"))

        volumes = []
        _volumes = d.pop("volumes", UNSET)
        for volumes_item_data in _volumes or []:
            volumes_item = Volume.from_dict(volumes_item_data)

            volumes.append(volumes_item)

        launch_command = cls(
            framework_id=framework_id,
            task=task,
            volumes=volumes,
        )

        launch_command.additional_properties = d
        return launch_command

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
