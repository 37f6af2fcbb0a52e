from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.demand_tasks import DemandTasks
    from ..models.resources import Resources


T = TypeVar("T", bound="FrameworkView")


@_attrs_define
class FrameworkView:
    """
    Attributes:
        id (str): A framework's id, minted at registration and kept across failovers: 1 to 128 characters of `A-Z a-z
            0-9 . _ -`, not `.` or `..`.
        name (str):
        principal (str): The principal of the token that registered it.
        roles (list[str]):
        connected (bool): Whether its event stream is open.
        failover_timeout_secs (float):
        used (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
        offered (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
        tasks (int):
        registered_at (float):
        suppressed_roles (Union[Unset, list[str]]): The roles it suppressed offers for.
        demand (Union[Unset, list['DemandTasks']]): The work it declared waiting for resources (`PUT
            /v1/frameworks/{id}/demand`), for an
            autoscaler to read; absent when it declared none.
    """

    id: str
    name: str
    principal: str
    roles: list[str]
    connected: bool
    failover_timeout_secs: float
    used: "Resources"
    offered: "Resources"
    tasks: int
    registered_at: float
    suppressed_roles: Union[Unset, list[str]] = UNSET
    demand: Union[Unset, list["DemandTasks"]] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        name = self.name

        principal = self.principal

        roles = self.roles

        connected = self.connected

        failover_timeout_secs = self.failover_timeout_secs

        used = self.used.to_dict()

        offered = self.offered.to_dict()

        tasks = self.tasks

        registered_at = self.registered_at

        suppressed_roles: Union[Unset, list[str]] = UNSET
        if not isinstance(self.suppressed_roles, Unset):
            suppressed_roles = self.suppressed_roles

        demand: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.demand, Unset):
            demand = []
            for demand_item_data in self.demand:
                demand_item = demand_item_data.to_dict()
                demand.append(demand_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "name": name,
                "principal": principal,
                "roles": roles,
                "connected": connected,
                "failover_timeout_secs": failover_timeout_secs,
                "used": used,
                "offered": offered,
                "tasks": tasks,
                "registered_at": registered_at,
            }
        )
        if suppressed_roles is not UNSET:
            field_dict["suppressed_roles"] = suppressed_roles
        if demand is not UNSET:
            field_dict["demand"] = demand

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.demand_tasks import DemandTasks
        from ..models.resources import Resources

        d = dict(src_dict)
        id = d.pop("id")

        name = d.pop("name")

        principal = d.pop("principal")

        roles = cast(list[str], d.pop("roles"))

        connected = d.pop("connected")

        failover_timeout_secs = d.pop("failover_timeout_secs")

        used = Resources.from_dict(d.pop("used"))

        offered = Resources.from_dict(d.pop("offered"))

        tasks = d.pop("tasks")

        registered_at = d.pop("registered_at")

        suppressed_roles = cast(list[str], d.pop("suppressed_roles", UNSET))

        demand = []
        _demand = d.pop("demand", UNSET)
        for demand_item_data in _demand or []:
            demand_item = DemandTasks.from_dict(demand_item_data)

            demand.append(demand_item)

        framework_view = cls(
            id=id,
            name=name,
            principal=principal,
            roles=roles,
            connected=connected,
            failover_timeout_secs=failover_timeout_secs,
            used=used,
            offered=offered,
            tasks=tasks,
            registered_at=registered_at,
            suppressed_roles=suppressed_roles,
            demand=demand,
        )

        framework_view.additional_properties = d
        return framework_view

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
