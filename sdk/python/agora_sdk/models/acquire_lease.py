from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define


T = TypeVar("T", bound="AcquireLease")


@_attrs_define
class AcquireLease:
    """`PUT /v1/leases/{name}`: takes or renews a named lease, so that of several replicas of a
    tool (an autoscaler) one acts at a time.

        Attributes:
            holder (str): Who takes it: 1 to 255 characters, no control characters. The same holder renews it.
            ttl_secs (float): How long it lasts without renewal, in seconds from now by the server's clock: more
                than 0, at most 3600.
    """

    holder: str
    ttl_secs: float

    def to_dict(self) -> dict[str, Any]:
        holder = self.holder

        ttl_secs = self.ttl_secs

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "holder": holder,
                "ttl_secs": ttl_secs,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        holder = d.pop("holder")

        ttl_secs = d.pop("ttl_secs")

        acquire_lease = cls(
            holder=holder,
            ttl_secs=ttl_secs,
        )

        return acquire_lease
