from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from ..models.kill_selection import KillSelection
from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.upgrade_strategy import UpgradeStrategy
    from ..models.unreachable_strategy import UnreachableStrategy
    from ..models.task_template import TaskTemplate
    from ..models.backoff import Backoff
    from ..models.readiness_check import ReadinessCheck


T = TypeVar("T", bound="ServiceSpec")


@_attrs_define
class ServiceSpec:
    """`PUT /v1/services/{id}`: what a service runs, how many, where and how it is rolled out.

    Attributes:
        task (TaskTemplate): The task each instance runs: a launch's task without the parts the scheduler fills in
            (id, agent, ports).
        instances (Union[Unset, int]): How many instances to keep running. Default 1.
        role (Union[Unset, str]): The role its instances' resources are offered to. Default `*`.
        readiness_check (Union['ReadinessCheck', None, Unset]):
        constraints (Union[Unset, list[list[str]]]): Marathon's constraints: `[field, OPERATOR]` or `[field, OPERATOR,
            value]`. The field is
            `hostname` (or `@hostname`) or an agent attribute; the operators are `UNIQUE`,
            `CLUSTER`, `GROUP_BY`, `MAX_PER`, `LIKE`, `UNLIKE` and `IS`.
        upgrade_strategy (Union[Unset, UpgradeStrategy]): How a new version replaces the old (Marathon's
            `upgradeStrategy`).
        backoff (Union[Unset, Backoff]): The delay before an instance replaces one that failed or exited: `seconds`,
            then times
            `factor` for each further failure, up to `max_launch_delay_secs`. It resets with a new
            version, and after a quiet spell of the delay plus `max_launch_delay_secs`.
        unreachable_strategy (Union[Unset, UnreachableStrategy]): What happens to an instance whose agent is
            unreachable: it is replaced after
            `inactive_after_secs`, and forgotten (killed if its agent comes back) after
            `expunge_after_secs`.
        kill_selection (Union[Unset, KillSelection]): Which instances go first when a service scales down.
    """

    task: "TaskTemplate"
    instances: Union[Unset, int] = UNSET
    role: Union[Unset, str] = UNSET
    readiness_check: Union["ReadinessCheck", None, Unset] = UNSET
    constraints: Union[Unset, list[list[str]]] = UNSET
    upgrade_strategy: Union[Unset, "UpgradeStrategy"] = UNSET
    backoff: Union[Unset, "Backoff"] = UNSET
    unreachable_strategy: Union[Unset, "UnreachableStrategy"] = UNSET
    kill_selection: Union[Unset, KillSelection] = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.readiness_check import ReadinessCheck

        task = self.task.to_dict()

        instances = self.instances

        role = self.role

        readiness_check: Union[None, Unset, dict[str, Any]]
        if isinstance(self.readiness_check, Unset):
            readiness_check = UNSET
        elif isinstance(self.readiness_check, ReadinessCheck):
            readiness_check = self.readiness_check.to_dict()
        else:
            readiness_check = self.readiness_check

        constraints: Union[Unset, list[list[str]]] = UNSET
        if not isinstance(self.constraints, Unset):
            constraints = []
            for constraints_item_data in self.constraints:
                constraints_item = constraints_item_data

                constraints.append(constraints_item)

        upgrade_strategy: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.upgrade_strategy, Unset):
            upgrade_strategy = self.upgrade_strategy.to_dict()

        backoff: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.backoff, Unset):
            backoff = self.backoff.to_dict()

        unreachable_strategy: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.unreachable_strategy, Unset):
            unreachable_strategy = self.unreachable_strategy.to_dict()

        kill_selection: Union[Unset, str] = UNSET
        if not isinstance(self.kill_selection, Unset):
            kill_selection = self.kill_selection.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "task": task,
            }
        )
        if instances is not UNSET:
            field_dict["instances"] = instances
        if role is not UNSET:
            field_dict["role"] = role
        if readiness_check is not UNSET:
            field_dict["readiness_check"] = readiness_check
        if constraints is not UNSET:
            field_dict["constraints"] = constraints
        if upgrade_strategy is not UNSET:
            field_dict["upgrade_strategy"] = upgrade_strategy
        if backoff is not UNSET:
            field_dict["backoff"] = backoff
        if unreachable_strategy is not UNSET:
            field_dict["unreachable_strategy"] = unreachable_strategy
        if kill_selection is not UNSET:
            field_dict["kill_selection"] = kill_selection

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.upgrade_strategy import UpgradeStrategy
        from ..models.unreachable_strategy import UnreachableStrategy
        from ..models.task_template import TaskTemplate
        from ..models.backoff import Backoff
        from ..models.readiness_check import ReadinessCheck

        d = dict(src_dict)
        task = TaskTemplate.from_dict(d.pop("task"))

        instances = d.pop("instances", UNSET)

        role = d.pop("role", UNSET)

        def _parse_readiness_check(
            data: object,
        ) -> Union["ReadinessCheck", None, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                readiness_check_type_1 = ReadinessCheck.from_dict(data)

                return readiness_check_type_1
            except:  # noqa: E722
                pass
            return cast(Union["ReadinessCheck", None, Unset], data)

        readiness_check = _parse_readiness_check(d.pop("readiness_check", UNSET))

        constraints = []
        _constraints = d.pop("constraints", UNSET)
        for constraints_item_data in _constraints or []:
            constraints_item = cast(list[str], constraints_item_data)

            constraints.append(constraints_item)

        _upgrade_strategy = d.pop("upgrade_strategy", UNSET)
        upgrade_strategy: Union[Unset, UpgradeStrategy]
        if isinstance(_upgrade_strategy, Unset):
            upgrade_strategy = UNSET
        else:
            upgrade_strategy = UpgradeStrategy.from_dict(_upgrade_strategy)

        _backoff = d.pop("backoff", UNSET)
        backoff: Union[Unset, Backoff]
        if isinstance(_backoff, Unset):
            backoff = UNSET
        else:
            backoff = Backoff.from_dict(_backoff)

        _unreachable_strategy = d.pop("unreachable_strategy", UNSET)
        unreachable_strategy: Union[Unset, UnreachableStrategy]
        if isinstance(_unreachable_strategy, Unset):
            unreachable_strategy = UNSET
        else:
            unreachable_strategy = UnreachableStrategy.from_dict(_unreachable_strategy)

        _kill_selection = d.pop("kill_selection", UNSET)
        kill_selection: Union[Unset, KillSelection]
        if isinstance(_kill_selection, Unset):
            kill_selection = UNSET
        else:
            kill_selection = KillSelection(_kill_selection)

        service_spec = cls(
            task=task,
            instances=instances,
            role=role,
            readiness_check=readiness_check,
            constraints=constraints,
            upgrade_strategy=upgrade_strategy,
            backoff=backoff,
            unreachable_strategy=unreachable_strategy,
            kill_selection=kill_selection,
        )

        return service_spec
