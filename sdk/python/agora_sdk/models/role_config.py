from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import Union

if TYPE_CHECKING:
    from ..models.quota import Quota


T = TypeVar("T", bound="RoleConfig")


@_attrs_define
class RoleConfig:
    """`PUT /v1/roles/{role}`: a role's weight and quota. Quota counts scalar resources only
    (`cpus`, `mem`, `disk`, `gpus`), held by the role and every role below it.

        Attributes:
            weight (Union[Unset, float]): The role's weight in fair sharing: a role of weight 2 gets twice the share.
                Default 1.
            quota (Union[Unset, Quota]): Amounts by scalar resource name (`cpus`, `mem` in MiB, `disk` in MiB, `gpus`); a
                resource
                not named is not constrained.
    """

    weight: Union[Unset, float] = UNSET
    quota: Union[Unset, "Quota"] = UNSET

    def to_dict(self) -> dict[str, Any]:
        weight = self.weight

        quota: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.quota, Unset):
            quota = self.quota.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if weight is not UNSET:
            field_dict["weight"] = weight
        if quota is not UNSET:
            field_dict["quota"] = quota

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.quota import Quota

        d = dict(src_dict)
        weight = d.pop("weight", UNSET)

        _quota = d.pop("quota", UNSET)
        quota: Union[Unset, Quota]
        if isinstance(_quota, Unset):
            quota = UNSET
        else:
            quota = Quota.from_dict(_quota)

        role_config = cls(
            weight=weight,
            quota=quota,
        )

        return role_config
