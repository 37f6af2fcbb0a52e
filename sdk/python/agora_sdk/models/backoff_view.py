from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field


T = TypeVar("T", bound="BackoffView")


@_attrs_define
class BackoffView:
    """A service's restart backoff while it holds launches back.

    Attributes:
        failures (int): Failures in a row of the current version's instances.
        delay_secs (float):
        until (float): When the next launch may go (Unix seconds).
    """

    failures: int
    delay_secs: float
    until: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        failures = self.failures

        delay_secs = self.delay_secs

        until = self.until

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "failures": failures,
                "delay_secs": delay_secs,
                "until": until,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        failures = d.pop("failures")

        delay_secs = d.pop("delay_secs")

        until = d.pop("until")

        backoff_view = cls(
            failures=failures,
            delay_secs=delay_secs,
            until=until,
        )

        backoff_view.additional_properties = d
        return backoff_view

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
