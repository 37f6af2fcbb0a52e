from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from ..models.containerizer import Containerizer
from ..models.network_mode import NetworkMode
from ..models.pull_policy import PullPolicy
from typing import Union

if TYPE_CHECKING:
    from ..models.port_mapping import PortMapping
    from ..models.container_volume import ContainerVolume


T = TypeVar("T", bound="ContainerInfo")


@_attrs_define
class ContainerInfo:
    """The image a task runs in, and how.

    Attributes:
        type_ (Containerizer): The containerizers an agent may offer: how it runs a task.
        image (str): `REGISTRY/NAME:TAG` or `REGISTRY/NAME@sha256:DIGEST`; a name without a registry is
            Docker Hub's.
        pull (Union[Unset, PullPolicy]): When the agent pulls a task's image.
        network (Union[Unset, NetworkMode]): The network a container joins.
        port_mappings (Union[Unset, list['PortMapping']]): Only with the `bridge` network.
        volumes (Union[Unset, list['ContainerVolume']]):
        privileged (Union[Unset, bool]): Every capability and device of the host; an agent refuses it unless started
            with
            `--allow-privileged`.
        writable_root (Union[Unset, bool]): Whether the task may write to its root filesystem (its writes are its own
            and go with
            it); by default only the sandbox, mounted at `/mnt/sandbox`, and `/tmp` are writable.
    """

    type_: Containerizer
    image: str
    pull: Union[Unset, PullPolicy] = UNSET
    network: Union[Unset, NetworkMode] = UNSET
    port_mappings: Union[Unset, list["PortMapping"]] = UNSET
    volumes: Union[Unset, list["ContainerVolume"]] = UNSET
    privileged: Union[Unset, bool] = UNSET
    writable_root: Union[Unset, bool] = UNSET

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_.value

        image = self.image

        pull: Union[Unset, str] = UNSET
        if not isinstance(self.pull, Unset):
            pull = self.pull.value

        network: Union[Unset, str] = UNSET
        if not isinstance(self.network, Unset):
            network = self.network.value

        port_mappings: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.port_mappings, Unset):
            port_mappings = []
            for port_mappings_item_data in self.port_mappings:
                port_mappings_item = port_mappings_item_data.to_dict()
                port_mappings.append(port_mappings_item)

        volumes: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.volumes, Unset):
            volumes = []
            for volumes_item_data in self.volumes:
                volumes_item = volumes_item_data.to_dict()
                volumes.append(volumes_item)

        privileged = self.privileged

        writable_root = self.writable_root

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "type": type_,
                "image": image,
            }
        )
        if pull is not UNSET:
            field_dict["pull"] = pull
        if network is not UNSET:
            field_dict["network"] = network
        if port_mappings is not UNSET:
            field_dict["port_mappings"] = port_mappings
        if volumes is not UNSET:
            field_dict["volumes"] = volumes
        if privileged is not UNSET:
            field_dict["privileged"] = privileged
        if writable_root is not UNSET:
            field_dict["writable_root"] = writable_root

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.port_mapping import PortMapping
        from ..models.container_volume import ContainerVolume

        d = dict(src_dict)
        type_ = Containerizer(d.pop("type"))

        image = d.pop("image")

        _pull = d.pop("pull", UNSET)
        pull: Union[Unset, PullPolicy]
        if isinstance(_pull, Unset):
            pull = UNSET
        else:
            pull = PullPolicy(_pull)

        _network = d.pop("network", UNSET)
        network: Union[Unset, NetworkMode]
        if isinstance(_network, Unset):
            network = UNSET
        else:
            network = NetworkMode(_network)

        port_mappings = []
        _port_mappings = d.pop("port_mappings", UNSET)
        for port_mappings_item_data in _port_mappings or []:
            port_mappings_item = PortMapping.from_dict(port_mappings_item_data)

            port_mappings.append(port_mappings_item)

        volumes = []
        _volumes = d.pop("volumes", UNSET)
        for volumes_item_data in _volumes or []:
            volumes_item = ContainerVolume.from_dict(volumes_item_data)

            volumes.append(volumes_item)

        privileged = d.pop("privileged", UNSET)

        writable_root = d.pop("writable_root", UNSET)

        container_info = cls(
            type_=type_,
            image=image,
            pull=pull,
            network=network,
            port_mappings=port_mappings,
            volumes=volumes,
            privileged=privileged,
            writable_root=writable_root,
        )

        return container_info
