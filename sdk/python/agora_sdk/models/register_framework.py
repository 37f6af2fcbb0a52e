from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from ..models.capability import Capability
from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.register_framework_offer_filters import RegisterFrameworkOfferFilters
    from ..models.register_framework_offer_constraints import (
        RegisterFrameworkOfferConstraints,
    )


T = TypeVar("T", bound="RegisterFramework")


@_attrs_define
class RegisterFramework:
    """`POST /v1/frameworks`.

    Attributes:
        name (str):
        id (Union[None, Unset, str]):
        roles (Union[Unset, list[str]]): One to 64 roles; by default `["*"]`.
        failover_timeout_secs (Union[Unset, float]): How long the framework may stay disconnected before it is torn down
            with its tasks.
        capabilities (Union[Unset, list[Capability]]):
        offer_constraints (Union[Unset, RegisterFrameworkOfferConstraints]): Per role: offers for the role come only
            from agents that match one of these groups, a
            group matching when all its constraints do (Mesos 1.11's offer constraints). A role
            not named is offered every agent.
        offer_filters (Union[Unset, RegisterFrameworkOfferFilters]): Per role: filters on the offers it is made.
    """

    name: str
    id: Union[None, Unset, str] = UNSET
    roles: Union[Unset, list[str]] = UNSET
    failover_timeout_secs: Union[Unset, float] = UNSET
    capabilities: Union[Unset, list[Capability]] = UNSET
    offer_constraints: Union[Unset, "RegisterFrameworkOfferConstraints"] = UNSET
    offer_filters: Union[Unset, "RegisterFrameworkOfferFilters"] = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        id: Union[None, Unset, str]
        if isinstance(self.id, Unset):
            id = UNSET
        else:
            id = self.id

        roles: Union[Unset, list[str]] = UNSET
        if not isinstance(self.roles, Unset):
            roles = self.roles

        failover_timeout_secs = self.failover_timeout_secs

        capabilities: Union[Unset, list[str]] = UNSET
        if not isinstance(self.capabilities, Unset):
            capabilities = []
            for capabilities_item_data in self.capabilities:
                capabilities_item = capabilities_item_data.value
                capabilities.append(capabilities_item)

        offer_constraints: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.offer_constraints, Unset):
            offer_constraints = self.offer_constraints.to_dict()

        offer_filters: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.offer_filters, Unset):
            offer_filters = self.offer_filters.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )
        if id is not UNSET:
            field_dict["id"] = id
        if roles is not UNSET:
            field_dict["roles"] = roles
        if failover_timeout_secs is not UNSET:
            field_dict["failover_timeout_secs"] = failover_timeout_secs
        if capabilities is not UNSET:
            field_dict["capabilities"] = capabilities
        if offer_constraints is not UNSET:
            field_dict["offer_constraints"] = offer_constraints
        if offer_filters is not UNSET:
            field_dict["offer_filters"] = offer_filters

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.register_framework_offer_filters import (
            RegisterFrameworkOfferFilters,
        )
        from ..models.register_framework_offer_constraints import (
            RegisterFrameworkOfferConstraints,
        )

        d = dict(src_dict)
        name = d.pop("name")

        def _parse_id(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        id = _parse_id(d.pop("id", UNSET))

        roles = cast(list[str], d.pop("roles", UNSET))

        failover_timeout_secs = d.pop("failover_timeout_secs", UNSET)

        capabilities = []
        _capabilities = d.pop("capabilities", UNSET)
        for capabilities_item_data in _capabilities or []:
            capabilities_item = Capability(capabilities_item_data)

            capabilities.append(capabilities_item)

        _offer_constraints = d.pop("offer_constraints", UNSET)
        offer_constraints: Union[Unset, RegisterFrameworkOfferConstraints]
        if isinstance(_offer_constraints, Unset):
            offer_constraints = UNSET
        else:
            offer_constraints = RegisterFrameworkOfferConstraints.from_dict(
                _offer_constraints
            )

        _offer_filters = d.pop("offer_filters", UNSET)
        offer_filters: Union[Unset, RegisterFrameworkOfferFilters]
        if isinstance(_offer_filters, Unset):
            offer_filters = UNSET
        else:
            offer_filters = RegisterFrameworkOfferFilters.from_dict(_offer_filters)

        register_framework = cls(
            name=name,
            id=id,
            roles=roles,
            failover_timeout_secs=failover_timeout_secs,
            capabilities=capabilities,
            offer_constraints=offer_constraints,
            offer_filters=offer_filters,
        )

        return register_framework
