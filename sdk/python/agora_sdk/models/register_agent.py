from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from ..models.containerizer import Containerizer
from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.resources import Resources
    from ..models.running_task import RunningTask
    from ..models.register_agent_reserved import RegisterAgentReserved
    from ..models.register_agent_attributes import RegisterAgentAttributes


T = TypeVar("T", bound="RegisterAgent")


@_attrs_define
class RegisterAgent:
    """`POST /v1/agents`: register, or re-register with `agent_id` and the tasks the agent runs.

    Attributes:
        hostname (str):
        resources (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
        agent_id (Union[None, Unset, str]):
        reserved (Union[Unset, RegisterAgentReserved]): Static reservations: parts of `resources` that only a role (and
            the roles below it)
            is offered, by role (`--resources cpus(analytics):4`). Scalars only.
        attributes (Union[Unset, RegisterAgentAttributes]):
        tasks (Union[Unset, list['RunningTask']]): The tasks the agent runs now, with their resources, so the master can
            account for them.
        containerizers (Union[Unset, list[Containerizer]]): How it can run tasks; absent (an agent before 0.3):
            processes only.
    """

    hostname: str
    resources: "Resources"
    agent_id: Union[None, Unset, str] = UNSET
    reserved: Union[Unset, "RegisterAgentReserved"] = UNSET
    attributes: Union[Unset, "RegisterAgentAttributes"] = UNSET
    tasks: Union[Unset, list["RunningTask"]] = UNSET
    containerizers: Union[Unset, list[Containerizer]] = UNSET

    def to_dict(self) -> dict[str, Any]:
        hostname = self.hostname

        resources = self.resources.to_dict()

        agent_id: Union[None, Unset, str]
        if isinstance(self.agent_id, Unset):
            agent_id = UNSET
        else:
            agent_id = self.agent_id

        reserved: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.reserved, Unset):
            reserved = self.reserved.to_dict()

        attributes: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.attributes, Unset):
            attributes = self.attributes.to_dict()

        tasks: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.tasks, Unset):
            tasks = []
            for tasks_item_data in self.tasks:
                tasks_item = tasks_item_data.to_dict()
                tasks.append(tasks_item)

        containerizers: Union[Unset, list[str]] = UNSET
        if not isinstance(self.containerizers, Unset):
            containerizers = []
            for containerizers_item_data in self.containerizers:
                containerizers_item = containerizers_item_data.value
                containerizers.append(containerizers_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "hostname": hostname,
                "resources": resources,
            }
        )
        if agent_id is not UNSET:
            field_dict["agent_id"] = agent_id
        if reserved is not UNSET:
            field_dict["reserved"] = reserved
        if attributes is not UNSET:
            field_dict["attributes"] = attributes
        if tasks is not UNSET:
            field_dict["tasks"] = tasks
        if containerizers is not UNSET:
            field_dict["containerizers"] = containerizers

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.resources import Resources
        from ..models.running_task import RunningTask
        from ..models.register_agent_reserved import RegisterAgentReserved
        from ..models.register_agent_attributes import RegisterAgentAttributes

        d = dict(src_dict)
        hostname = d.pop("hostname")

        resources = Resources.from_dict(d.pop("resources"))

        def _parse_agent_id(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        agent_id = _parse_agent_id(d.pop("agent_id", UNSET))

        _reserved = d.pop("reserved", UNSET)
        reserved: Union[Unset, RegisterAgentReserved]
        if isinstance(_reserved, Unset):
            reserved = UNSET
        else:
            reserved = RegisterAgentReserved.from_dict(_reserved)

        _attributes = d.pop("attributes", UNSET)
        attributes: Union[Unset, RegisterAgentAttributes]
        if isinstance(_attributes, Unset):
            attributes = UNSET
        else:
            attributes = RegisterAgentAttributes.from_dict(_attributes)

        tasks = []
        _tasks = d.pop("tasks", UNSET)
        for tasks_item_data in _tasks or []:
            tasks_item = RunningTask.from_dict(tasks_item_data)

            tasks.append(tasks_item)

        containerizers = []
        _containerizers = d.pop("containerizers", UNSET)
        for containerizers_item_data in _containerizers or []:
            containerizers_item = Containerizer(containerizers_item_data)

            containerizers.append(containerizers_item)

        register_agent = cls(
            hostname=hostname,
            resources=resources,
            agent_id=agent_id,
            reserved=reserved,
            attributes=attributes,
            tasks=tasks,
            containerizers=containerizers,
        )

        return register_agent
