from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field


if TYPE_CHECKING:
    from ..models.http_probe import HttpProbe


T = TypeVar("T", bound="HttpCheck")


@_attrs_define
class HttpCheck:
    """`GET http://127.0.0.1:{port}{path}`: healthy on a 2xx or 3xx answer.

    Attributes:
        http (HttpProbe): `GET http://127.0.0.1:{port}{path}`: healthy on a 2xx or 3xx answer.
    """

    http: "HttpProbe"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        http = self.http.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "http": http,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.http_probe import HttpProbe

        d = dict(src_dict)
        http = HttpProbe.from_dict(d.pop("http"))

        http_check = cls(
            http=http,
        )

        http_check.additional_properties = d
        return http_check

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
