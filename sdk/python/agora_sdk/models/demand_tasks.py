from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.resources import Resources


T = TypeVar("T", bound="DemandTasks")


@_attrs_define
class DemandTasks:
    """Tasks of one shape waiting to be launched.

    Attributes:
        count (int): How many such tasks wait: 1 to 100000.
        resources (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
        role (Union[None, Unset, str]): The role they would run in, one of the framework's roles; absent when it does
            not say.
        constraints (Union[Unset, list[list[str]]]): Where they may run, as Marathon's constraints: `[field, OPERATOR]`
            or
            `[field, OPERATOR, value]` (such as `["zone", "IS", "a"]`), kept as given. At most 16,
            each of 2 or 3 strings of at most 255 characters.
    """

    count: int
    resources: "Resources"
    role: Union[None, Unset, str] = UNSET
    constraints: Union[Unset, list[list[str]]] = UNSET

    def to_dict(self) -> dict[str, Any]:
        count = self.count

        resources = self.resources.to_dict()

        role: Union[None, Unset, str]
        if isinstance(self.role, Unset):
            role = UNSET
        else:
            role = self.role

        constraints: Union[Unset, list[list[str]]] = UNSET
        if not isinstance(self.constraints, Unset):
            constraints = []
            for constraints_item_data in self.constraints:
                constraints_item = constraints_item_data

                constraints.append(constraints_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "count": count,
                "resources": resources,
            }
        )
        if role is not UNSET:
            field_dict["role"] = role
        if constraints is not UNSET:
            field_dict["constraints"] = constraints

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.resources import Resources

        d = dict(src_dict)
        count = d.pop("count")

        resources = Resources.from_dict(d.pop("resources"))

        def _parse_role(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        role = _parse_role(d.pop("role", UNSET))

        constraints = []
        _constraints = d.pop("constraints", UNSET)
        for constraints_item_data in _constraints or []:
            constraints_item = cast(list[str], constraints_item_data)

            constraints.append(constraints_item)

        demand_tasks = cls(
            count=count,
            resources=resources,
            role=role,
            constraints=constraints,
        )

        return demand_tasks
