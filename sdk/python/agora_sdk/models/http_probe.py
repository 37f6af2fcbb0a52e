from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import Union


T = TypeVar("T", bound="HttpProbe")


@_attrs_define
class HttpProbe:
    """`GET http://127.0.0.1:{port}{path}`: healthy on a 2xx or 3xx answer.

    Attributes:
        port (int):
        path (Union[Unset, str]):
    """

    port: int
    path: Union[Unset, str] = UNSET

    def to_dict(self) -> dict[str, Any]:
        port = self.port

        path = self.path

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "port": port,
            }
        )
        if path is not UNSET:
            field_dict["path"] = path

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        port = d.pop("port")

        path = d.pop("path", UNSET)

        http_probe = cls(
            port=port,
            path=path,
        )

        return http_probe
