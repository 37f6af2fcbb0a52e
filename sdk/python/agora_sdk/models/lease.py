from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field


T = TypeVar("T", bound="Lease")


@_attrs_define
class Lease:
    """A named lease, as `PUT` and `GET /v1/leases/{name}` answer.

    Attributes:
        name (str):
        holder (str): Who holds it, or held it last; empty once released.
        epoch (int): Rises by one each time the lease is taken (not when it is renewed): a holder that sees
            its epoch change lost the lease in between.
        expires_at (float): When it expires unless renewed, in seconds since the Unix epoch, by the server's clock;
            in the past once expired or released.
    """

    name: str
    holder: str
    epoch: int
    expires_at: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        holder = self.holder

        epoch = self.epoch

        expires_at = self.expires_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "name": name,
                "holder": holder,
                "epoch": epoch,
                "expires_at": expires_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        holder = d.pop("holder")

        epoch = d.pop("epoch")

        expires_at = d.pop("expires_at")

        lease = cls(
            name=name,
            holder=holder,
            epoch=epoch,
            expires_at=expires_at,
        )

        lease.additional_properties = d
        return lease

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
