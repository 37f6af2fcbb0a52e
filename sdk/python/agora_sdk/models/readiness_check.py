from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import cast
from typing import Union


T = TypeVar("T", bound="ReadinessCheck")


@_attrs_define
class ReadinessCheck:
    """Marathon's readiness check: `GET http://AGENT:PORT{path}` from the scheduler, every
    `interval_secs` until the instance answers with one of `http_status_codes_for_ready`; from
    then on it is ready for good.

        Attributes:
            port_name (str): The name of one of the task's `ports`.
            path (Union[Unset, str]):
            interval_secs (Union[Unset, float]):
            timeout_secs (Union[Unset, float]):
            http_status_codes_for_ready (Union[Unset, list[int]]):
    """

    port_name: str
    path: Union[Unset, str] = UNSET
    interval_secs: Union[Unset, float] = UNSET
    timeout_secs: Union[Unset, float] = UNSET
    http_status_codes_for_ready: Union[Unset, list[int]] = UNSET

    def to_dict(self) -> dict[str, Any]:
        port_name = self.port_name

        path = self.path

        interval_secs = self.interval_secs

        timeout_secs = self.timeout_secs

        http_status_codes_for_ready: Union[Unset, list[int]] = UNSET
        if not isinstance(self.http_status_codes_for_ready, Unset):
            http_status_codes_for_ready = self.http_status_codes_for_ready

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "port_name": port_name,
            }
        )
        if path is not UNSET:
            field_dict["path"] = path
        if interval_secs is not UNSET:
            field_dict["interval_secs"] = interval_secs
        if timeout_secs is not UNSET:
            field_dict["timeout_secs"] = timeout_secs
        if http_status_codes_for_ready is not UNSET:
            field_dict["http_status_codes_for_ready"] = http_status_codes_for_ready

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        port_name = d.pop("port_name")

        path = d.pop("path", UNSET)

        interval_secs = d.pop("interval_secs", UNSET)

        timeout_secs = d.pop("timeout_secs", UNSET)

        http_status_codes_for_ready = cast(
            list[int], d.pop("http_status_codes_for_ready", UNSET)
        )

        readiness_check = cls(
            port_name=port_name,
            path=path,
            interval_secs=interval_secs,
            timeout_secs=timeout_secs,
            http_status_codes_for_ready=http_status_codes_for_ready,
        )

        return readiness_check
