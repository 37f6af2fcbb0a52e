from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import cast
from typing import Union


T = TypeVar("T", bound="Resources")


@_attrs_define
class Resources:
    """A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.

    Attributes:
        cpus (Union[Unset, float]):  Default: 0.0.
        mem (Union[Unset, float]): MiB. Default: 0.0.
        disk (Union[Unset, float]): MiB. Default: 0.0.
        gpus (Union[Unset, float]):  Default: 0.0.
        ports (Union[Unset, list[list[int]]]): Inclusive port ranges, e.g. `[[31000, 31004]]`.
    """

    cpus: Union[Unset, float] = 0.0
    mem: Union[Unset, float] = 0.0
    disk: Union[Unset, float] = 0.0
    gpus: Union[Unset, float] = 0.0
    ports: Union[Unset, list[list[int]]] = UNSET

    def to_dict(self) -> dict[str, Any]:
        cpus = self.cpus

        mem = self.mem

        disk = self.disk

        gpus = self.gpus

        ports: Union[Unset, list[list[int]]] = UNSET
        if not isinstance(self.ports, Unset):
            ports = []
            for ports_item_data in self.ports:
                ports_item = ports_item_data

                ports.append(ports_item)

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if cpus is not UNSET:
            field_dict["cpus"] = cpus
        if mem is not UNSET:
            field_dict["mem"] = mem
        if disk is not UNSET:
            field_dict["disk"] = disk
        if gpus is not UNSET:
            field_dict["gpus"] = gpus
        if ports is not UNSET:
            field_dict["ports"] = ports

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        cpus = d.pop("cpus", UNSET)

        mem = d.pop("mem", UNSET)

        disk = d.pop("disk", UNSET)

        gpus = d.pop("gpus", UNSET)

        ports = []
        _ports = d.pop("ports", UNSET)
        for ports_item_data in _ports or []:
            ports_item = cast(list[int], ports_item_data)

            ports.append(ports_item)

        resources = cls(
            cpus=cpus,
            mem=mem,
            disk=disk,
            gpus=gpus,
            ports=ports,
        )

        return resources
