from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field


if TYPE_CHECKING:
    from ..models.resources import Resources


T = TypeVar("T", bound="ClusterView")


@_attrs_define
class ClusterView:
    """`GET /v1/cluster`.

    Attributes:
        version (str):
        leader (str): The replica that holds the allocator lease (empty while none does).
        epoch (int): The lease's epoch: it rises each time a replica takes the lease, and every allocator
            write checks it, so a deposed leader changes nothing.
        store (str): The state store: `embedded` or `redis`.
        replica (str): The replica that answered this request.
        total (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
        used (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
        offered (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
        agents (int):
        frameworks (int):
        tasks (int):
    """

    version: str
    leader: str
    epoch: int
    store: str
    replica: str
    total: "Resources"
    used: "Resources"
    offered: "Resources"
    agents: int
    frameworks: int
    tasks: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        version = self.version

        leader = self.leader

        epoch = self.epoch

        store = self.store

        replica = self.replica

        total = self.total.to_dict()

        used = self.used.to_dict()

        offered = self.offered.to_dict()

        agents = self.agents

        frameworks = self.frameworks

        tasks = self.tasks

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "version": version,
                "leader": leader,
                "epoch": epoch,
                "store": store,
                "replica": replica,
                "total": total,
                "used": used,
                "offered": offered,
                "agents": agents,
                "frameworks": frameworks,
                "tasks": tasks,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.resources import Resources

        d = dict(src_dict)
        version = d.pop("version")

        leader = d.pop("leader")

        epoch = d.pop("epoch")

        store = d.pop("store")

        replica = d.pop("replica")

        total = Resources.from_dict(d.pop("total"))

        used = Resources.from_dict(d.pop("used"))

        offered = Resources.from_dict(d.pop("offered"))

        agents = d.pop("agents")

        frameworks = d.pop("frameworks")

        tasks = d.pop("tasks")

        cluster_view = cls(
            version=version,
            leader=leader,
            epoch=epoch,
            store=store,
            replica=replica,
            total=total,
            used=used,
            offered=offered,
            agents=agents,
            frameworks=frameworks,
            tasks=tasks,
        )

        cluster_view.additional_properties = d
        return cluster_view

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
