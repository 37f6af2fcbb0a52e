from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.resources import Resources


T = TypeVar("T", bound="WaitingReason")


@_attrs_define
class WaitingReason:
    """Why some of a service's instances wait, in the vocabulary of framework diagnostics.

    Attributes:
        instances (int): How many instances this holds for.
        code (str): `constraint_unmet`, `no_free_resources`, `no_agents`, `agents_in_maintenance`,
            `quota_limit`, `waiting_for_offers`, `backoff`, `starting`, `unhealthy`, `not_ready`.
        message (str):
        until (Union[None, Unset, float]): For `backoff`: when the next launch may go (Unix seconds).
        largest_free (Union['Resources', None, Unset]):
    """

    instances: int
    code: str
    message: str
    until: Union[None, Unset, float] = UNSET
    largest_free: Union["Resources", None, Unset] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.resources import Resources

        instances = self.instances

        code = self.code

        message = self.message

        until: Union[None, Unset, float]
        if isinstance(self.until, Unset):
            until = UNSET
        else:
            until = self.until

        largest_free: Union[None, Unset, dict[str, Any]]
        if isinstance(self.largest_free, Unset):
            largest_free = UNSET
        elif isinstance(self.largest_free, Resources):
            largest_free = self.largest_free.to_dict()
        else:
            largest_free = self.largest_free

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "instances": instances,
                "code": code,
                "message": message,
            }
        )
        if until is not UNSET:
            field_dict["until"] = until
        if largest_free is not UNSET:
            field_dict["largest_free"] = largest_free

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.resources import Resources

        d = dict(src_dict)
        instances = d.pop("instances")

        code = d.pop("code")

        message = d.pop("message")

        def _parse_until(data: object) -> Union[None, Unset, float]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, float], data)

        until = _parse_until(d.pop("until", UNSET))

        def _parse_largest_free(data: object) -> Union["Resources", None, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                largest_free_type_1 = Resources.from_dict(data)

                return largest_free_type_1
            except:  # noqa: E722
                pass
            return cast(Union["Resources", None, Unset], data)

        largest_free = _parse_largest_free(d.pop("largest_free", UNSET))

        waiting_reason = cls(
            instances=instances,
            code=code,
            message=message,
            until=until,
            largest_free=largest_free,
        )

        waiting_reason.additional_properties = d
        return waiting_reason

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
