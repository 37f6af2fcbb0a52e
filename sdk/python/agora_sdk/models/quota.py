from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import Union

if TYPE_CHECKING:
    from ..models.quota_limit import QuotaLimit
    from ..models.quota_guarantee import QuotaGuarantee


T = TypeVar("T", bound="Quota")


@_attrs_define
class Quota:
    """Amounts by scalar resource name (`cpus`, `mem` in MiB, `disk` in MiB, `gpus`); a resource
    not named is not constrained.

        Attributes:
            guarantee (Union[Unset, QuotaGuarantee]): Held back for the role while the cluster is contended: other roles are
                not offered
                what the role still needs to reach it.
            limit (Union[Unset, QuotaLimit]): Never exceeded by what the role's tasks and offers hold.
    """

    guarantee: Union[Unset, "QuotaGuarantee"] = UNSET
    limit: Union[Unset, "QuotaLimit"] = UNSET

    def to_dict(self) -> dict[str, Any]:
        guarantee: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.guarantee, Unset):
            guarantee = self.guarantee.to_dict()

        limit: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.limit, Unset):
            limit = self.limit.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if guarantee is not UNSET:
            field_dict["guarantee"] = guarantee
        if limit is not UNSET:
            field_dict["limit"] = limit

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.quota_limit import QuotaLimit
        from ..models.quota_guarantee import QuotaGuarantee

        d = dict(src_dict)
        _guarantee = d.pop("guarantee", UNSET)
        guarantee: Union[Unset, QuotaGuarantee]
        if isinstance(_guarantee, Unset):
            guarantee = UNSET
        else:
            guarantee = QuotaGuarantee.from_dict(_guarantee)

        _limit = d.pop("limit", UNSET)
        limit: Union[Unset, QuotaLimit]
        if isinstance(_limit, Unset):
            limit = UNSET
        else:
            limit = QuotaLimit.from_dict(_limit)

        quota = cls(
            guarantee=guarantee,
            limit=limit,
        )

        return quota
