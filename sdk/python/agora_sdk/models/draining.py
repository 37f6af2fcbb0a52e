from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field


from ..models.draining_mode import DrainingMode


T = TypeVar("T", bound="Draining")


@_attrs_define
class Draining:
    """The frameworks with tasks on it were sent an inverse offer; the tasks still there at
    `deadline` are killed (each with its own kill grace period).

        Attributes:
            since (float):
            deadline (float):
            inverse_offer_id (str): An offer's id; an offer may be used by one accept or decline only: 1 to 128 characters
                of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
            mode (DrainingMode):
    """

    since: float
    deadline: float
    inverse_offer_id: str
    mode: DrainingMode
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        since = self.since

        deadline = self.deadline

        inverse_offer_id = self.inverse_offer_id

        mode = self.mode.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "since": since,
                "deadline": deadline,
                "inverse_offer_id": inverse_offer_id,
                "mode": mode,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        since = d.pop("since")

        deadline = d.pop("deadline")

        inverse_offer_id = d.pop("inverse_offer_id")

        mode = DrainingMode(d.pop("mode"))

        draining = cls(
            since=since,
            deadline=deadline,
            inverse_offer_id=inverse_offer_id,
            mode=mode,
        )

        draining.additional_properties = d
        return draining

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
