from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import cast, Union


T = TypeVar("T", bound="Rollback")


@_attrs_define
class Rollback:
    """`POST /v1/services/{id}/rollback`.

    Attributes:
        version (Union[None, Unset, int]): The version to go back to; absent: the one before the current one.
    """

    version: Union[None, Unset, int] = UNSET

    def to_dict(self) -> dict[str, Any]:
        version: Union[None, Unset, int]
        if isinstance(self.version, Unset):
            version = UNSET
        else:
            version = self.version

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if version is not UNSET:
            field_dict["version"] = version

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_version(data: object) -> Union[None, Unset, int]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, int], data)

        version = _parse_version(d.pop("version", UNSET))

        rollback = cls(
            version=version,
        )

        return rollback
