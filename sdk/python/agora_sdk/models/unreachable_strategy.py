from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import Union


T = TypeVar("T", bound="UnreachableStrategy")


@_attrs_define
class UnreachableStrategy:
    """What happens to an instance whose agent is unreachable: it is replaced after
    `inactive_after_secs`, and forgotten (killed if its agent comes back) after
    `expunge_after_secs`.

        Attributes:
            inactive_after_secs (Union[Unset, float]):
            expunge_after_secs (Union[Unset, float]):
    """

    inactive_after_secs: Union[Unset, float] = UNSET
    expunge_after_secs: Union[Unset, float] = UNSET

    def to_dict(self) -> dict[str, Any]:
        inactive_after_secs = self.inactive_after_secs

        expunge_after_secs = self.expunge_after_secs

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if inactive_after_secs is not UNSET:
            field_dict["inactive_after_secs"] = inactive_after_secs
        if expunge_after_secs is not UNSET:
            field_dict["expunge_after_secs"] = expunge_after_secs

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        inactive_after_secs = d.pop("inactive_after_secs", UNSET)

        expunge_after_secs = d.pop("expunge_after_secs", UNSET)

        unreachable_strategy = cls(
            inactive_after_secs=inactive_after_secs,
            expunge_after_secs=expunge_after_secs,
        )

        return unreachable_strategy
