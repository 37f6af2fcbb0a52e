from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import cast, Union


T = TypeVar("T", bound="Filters")


@_attrs_define
class Filters:
    """Offer filters set by accept and decline.

    Attributes:
        refuse_secs (Union[None, Unset, float]): How long this agent's resources are kept from the framework (decline
            default: 5 s).
    """

    refuse_secs: Union[None, Unset, float] = UNSET

    def to_dict(self) -> dict[str, Any]:
        refuse_secs: Union[None, Unset, float]
        if isinstance(self.refuse_secs, Unset):
            refuse_secs = UNSET
        else:
            refuse_secs = self.refuse_secs

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if refuse_secs is not UNSET:
            field_dict["refuse_secs"] = refuse_secs

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_refuse_secs(data: object) -> Union[None, Unset, float]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, float], data)

        refuse_secs = _parse_refuse_secs(d.pop("refuse_secs", UNSET))

        filters = cls(
            refuse_secs=refuse_secs,
        )

        return filters
