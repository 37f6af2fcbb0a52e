from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field


if TYPE_CHECKING:
    from ..models.role_diagnostics import RoleDiagnostics
    from ..models.resources import Resources
    from ..models.reason import Reason


T = TypeVar("T", bound="Diagnostics")


@_attrs_define
class Diagnostics:
    """`GET /v1/frameworks/{id}/diagnostics`: why the framework is not being offered more right
    now, as of the latest state.

        Attributes:
            framework_id (str): A framework's id, minted at registration and kept across failovers: 1 to 128 characters of
                `A-Z a-z 0-9 . _ -`, not `.` or `..`.
            offered (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
            reasons (list['Reason']): Reasons that hold for all its roles (`not_connected`, `offers_outstanding`).
            roles (list['RoleDiagnostics']): Per role it is registered with, the reasons that hold for that role.
    """

    framework_id: str
    offered: "Resources"
    reasons: list["Reason"]
    roles: list["RoleDiagnostics"]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        framework_id = self.framework_id

        offered = self.offered.to_dict()

        reasons = []
        for reasons_item_data in self.reasons:
            reasons_item = reasons_item_data.to_dict()
            reasons.append(reasons_item)

        roles = []
        for roles_item_data in self.roles:
            roles_item = roles_item_data.to_dict()
            roles.append(roles_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "framework_id": framework_id,
                "offered": offered,
                "reasons": reasons,
                "roles": roles,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.role_diagnostics import RoleDiagnostics
        from ..models.resources import Resources
        from ..models.reason import Reason

        d = dict(src_dict)
        framework_id = d.pop("framework_id")

        offered = Resources.from_dict(d.pop("offered"))

        reasons = []
        _reasons = d.pop("reasons")
        for reasons_item_data in _reasons:
            reasons_item = Reason.from_dict(reasons_item_data)

            reasons.append(reasons_item)

        roles = []
        _roles = d.pop("roles")
        for roles_item_data in _roles:
            roles_item = RoleDiagnostics.from_dict(roles_item_data)

            roles.append(roles_item)

        diagnostics = cls(
            framework_id=framework_id,
            offered=offered,
            reasons=reasons,
            roles=roles,
        )

        diagnostics.additional_properties = d
        return diagnostics

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
