from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import cast
from typing import Union


T = TypeVar("T", bound="Roles")


@_attrs_define
class Roles:
    """`POST /v1/frameworks/{id}/revive` and `/suppress`: the roles concerned, all when empty.

    Attributes:
        roles (Union[Unset, list[str]]):
    """

    roles: Union[Unset, list[str]] = UNSET

    def to_dict(self) -> dict[str, Any]:
        roles: Union[Unset, list[str]] = UNSET
        if not isinstance(self.roles, Unset):
            roles = self.roles

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if roles is not UNSET:
            field_dict["roles"] = roles

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        roles = cast(list[str], d.pop("roles", UNSET))

        roles = cls(
            roles=roles,
        )

        return roles
