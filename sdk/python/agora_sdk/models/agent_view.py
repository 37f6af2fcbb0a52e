from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.agent_state import AgentState
from ..models.containerizer import Containerizer
from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.reservation import Reservation
    from ..models.volume import Volume
    from ..models.draining import Draining
    from ..models.agent_view_attributes import AgentViewAttributes
    from ..models.agent_view_reserved import AgentViewReserved
    from ..models.resources import Resources
    from ..models.deactivated import Deactivated


T = TypeVar("T", bound="AgentView")


@_attrs_define
class AgentView:
    """
    Attributes:
        id (str): An agent's id, minted at its first registration and kept across its restarts: 1 to 128 characters of
            `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        hostname (str):
        state (AgentState): Whether an agent is usable.
        attributes (AgentViewAttributes):
        total (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
        used (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
        offered (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
        tasks (int):
        registered_at (float): Seconds since the Unix epoch.
        last_seen (float):
        reserved (Union[Unset, AgentViewReserved]): The parts of `total` reserved to roles, statically and dynamically
            together.
        reservations (Union[Unset, list['Reservation']]): The dynamic reservations among them, with their labels.
        volumes (Union[Unset, list['Volume']]): Persistent volumes, on reserved disk.
        maintenance (Union['Deactivated', 'Draining', None, Unset]):
        containerizers (Union[Unset, list[Containerizer]]): How it runs tasks: `process`, and `oci` or `docker` where it
            can run images.
        drained (Union[Unset, bool]): Draining, and no task of it is left running: it may be taken down.
    """

    id: str
    hostname: str
    state: AgentState
    attributes: "AgentViewAttributes"
    total: "Resources"
    used: "Resources"
    offered: "Resources"
    tasks: int
    registered_at: float
    last_seen: float
    reserved: Union[Unset, "AgentViewReserved"] = UNSET
    reservations: Union[Unset, list["Reservation"]] = UNSET
    volumes: Union[Unset, list["Volume"]] = UNSET
    maintenance: Union["Deactivated", "Draining", None, Unset] = UNSET
    containerizers: Union[Unset, list[Containerizer]] = UNSET
    drained: Union[Unset, bool] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.draining import Draining
        from ..models.deactivated import Deactivated

        id = self.id

        hostname = self.hostname

        state = self.state.value

        attributes = self.attributes.to_dict()

        total = self.total.to_dict()

        used = self.used.to_dict()

        offered = self.offered.to_dict()

        tasks = self.tasks

        registered_at = self.registered_at

        last_seen = self.last_seen

        reserved: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.reserved, Unset):
            reserved = self.reserved.to_dict()

        reservations: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.reservations, Unset):
            reservations = []
            for reservations_item_data in self.reservations:
                reservations_item = reservations_item_data.to_dict()
                reservations.append(reservations_item)

        volumes: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.volumes, Unset):
            volumes = []
            for volumes_item_data in self.volumes:
                volumes_item = volumes_item_data.to_dict()
                volumes.append(volumes_item)

        maintenance: Union[None, Unset, dict[str, Any]]
        if isinstance(self.maintenance, Unset):
            maintenance = UNSET
        elif isinstance(self.maintenance, Deactivated):
            maintenance = self.maintenance.to_dict()
        elif isinstance(self.maintenance, Draining):
            maintenance = self.maintenance.to_dict()
        else:
            maintenance = self.maintenance

        containerizers: Union[Unset, list[str]] = UNSET
        if not isinstance(self.containerizers, Unset):
            containerizers = []
            for containerizers_item_data in self.containerizers:
                containerizers_item = containerizers_item_data.value
                containerizers.append(containerizers_item)

        drained = self.drained

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "hostname": hostname,
                "state": state,
                "attributes": attributes,
                "total": total,
                "used": used,
                "offered": offered,
                "tasks": tasks,
                "registered_at": registered_at,
                "last_seen": last_seen,
            }
        )
        if reserved is not UNSET:
            field_dict["reserved"] = reserved
        if reservations is not UNSET:
            field_dict["reservations"] = reservations
        if volumes is not UNSET:
            field_dict["volumes"] = volumes
        if maintenance is not UNSET:
            field_dict["maintenance"] = maintenance
        if containerizers is not UNSET:
            field_dict["containerizers"] = containerizers
        if drained is not UNSET:
            field_dict["drained"] = drained

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.reservation import Reservation
        from ..models.volume import Volume
        from ..models.draining import Draining
        from ..models.agent_view_attributes import AgentViewAttributes
        from ..models.agent_view_reserved import AgentViewReserved
        from ..models.resources import Resources
        from ..models.deactivated import Deactivated

        d = dict(src_dict)
        id = d.pop("id")

        hostname = d.pop("hostname")

        state = AgentState(d.pop("state"))

        attributes = AgentViewAttributes.from_dict(d.pop("attributes"))

        total = Resources.from_dict(d.pop("total"))

        used = Resources.from_dict(d.pop("used"))

        offered = Resources.from_dict(d.pop("offered"))

        tasks = d.pop("tasks")

        registered_at = d.pop("registered_at")

        last_seen = d.pop("last_seen")

        _reserved = d.pop("reserved", UNSET)
        reserved: Union[Unset, AgentViewReserved]
        if isinstance(_reserved, Unset):
            reserved = UNSET
        else:
            reserved = AgentViewReserved.from_dict(_reserved)

        reservations = []
        _reservations = d.pop("reservations", UNSET)
        for reservations_item_data in _reservations or []:
            reservations_item = Reservation.from_dict(reservations_item_data)

            reservations.append(reservations_item)

        volumes = []
        _volumes = d.pop("volumes", UNSET)
        for volumes_item_data in _volumes or []:
            volumes_item = Volume.from_dict(volumes_item_data)

            volumes.append(volumes_item)

        def _parse_maintenance(
            data: object,
        ) -> Union["Deactivated", "Draining", None, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_maintenance_deactivated = Deactivated.from_dict(data)

                return componentsschemas_maintenance_deactivated
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_maintenance_draining = Draining.from_dict(data)

                return componentsschemas_maintenance_draining
            except:  # noqa: E722
                pass
            return cast(Union["Deactivated", "Draining", None, Unset], data)

        maintenance = _parse_maintenance(d.pop("maintenance", UNSET))

        containerizers = []
        _containerizers = d.pop("containerizers", UNSET)
        for containerizers_item_data in _containerizers or []:
            containerizers_item = Containerizer(containerizers_item_data)

            containerizers.append(containerizers_item)

        drained = d.pop("drained", UNSET)

        agent_view = cls(
            id=id,
            hostname=hostname,
            state=state,
            attributes=attributes,
            total=total,
            used=used,
            offered=offered,
            tasks=tasks,
            registered_at=registered_at,
            last_seen=last_seen,
            reserved=reserved,
            reservations=reservations,
            volumes=volumes,
            maintenance=maintenance,
            containerizers=containerizers,
            drained=drained,
        )

        agent_view.additional_properties = d
        return agent_view

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
