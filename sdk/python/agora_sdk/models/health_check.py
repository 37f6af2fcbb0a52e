from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import Union

if TYPE_CHECKING:
    from ..models.tcp_check import TcpCheck
    from ..models.http_check import HttpCheck
    from ..models.command_check import CommandCheck


T = TypeVar("T", bound="HealthCheck")


@_attrs_define
class HealthCheck:
    """A health check run by the task's agent, as Mesos-native checks are: a command in the
    task's sandbox, an HTTP GET or a TCP connect on the agent's host. Failures during the grace
    period after launch do not count until a check has passed; the task is killed after
    `consecutive_failures` failures in a row.

        Attributes:
            check (Union['CommandCheck', 'HttpCheck', 'TcpCheck']): What a health check does.
            delay_secs (Union[Unset, float]): Seconds before the first check (Mesos's `delay_seconds`).
            interval_secs (Union[Unset, float]):
            timeout_secs (Union[Unset, float]): A check that takes longer fails (a command is killed).
            grace_period_secs (Union[Unset, float]): Seconds after launch during which failures are forgiven, until the
                first success.
            consecutive_failures (Union[Unset, int]):
    """

    check: Union["CommandCheck", "HttpCheck", "TcpCheck"]
    delay_secs: Union[Unset, float] = UNSET
    interval_secs: Union[Unset, float] = UNSET
    timeout_secs: Union[Unset, float] = UNSET
    grace_period_secs: Union[Unset, float] = UNSET
    consecutive_failures: Union[Unset, int] = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.http_check import HttpCheck
        from ..models.command_check import CommandCheck

        check: dict[str, Any]
        if isinstance(self.check, CommandCheck):
            check = self.check.to_dict()
        elif isinstance(self.check, HttpCheck):
            check = self.check.to_dict()
        else:
            check = self.check.to_dict()

        delay_secs = self.delay_secs

        interval_secs = self.interval_secs

        timeout_secs = self.timeout_secs

        grace_period_secs = self.grace_period_secs

        consecutive_failures = self.consecutive_failures

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "check": check,
            }
        )
        if delay_secs is not UNSET:
            field_dict["delay_secs"] = delay_secs
        if interval_secs is not UNSET:
            field_dict["interval_secs"] = interval_secs
        if timeout_secs is not UNSET:
            field_dict["timeout_secs"] = timeout_secs
        if grace_period_secs is not UNSET:
            field_dict["grace_period_secs"] = grace_period_secs
        if consecutive_failures is not UNSET:
            field_dict["consecutive_failures"] = consecutive_failures

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.tcp_check import TcpCheck
        from ..models.http_check import HttpCheck
        from ..models.command_check import CommandCheck

        d = dict(src_dict)

        def _parse_check(
            data: object,
        ) -> Union["CommandCheck", "HttpCheck", "TcpCheck"]:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_check_command_check = CommandCheck.from_dict(data)

                return componentsschemas_check_command_check
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_check_http_check = HttpCheck.from_dict(data)

                return componentsschemas_check_http_check
            except:  # noqa: E722
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_check_tcp_check = TcpCheck.from_dict(data)

            return componentsschemas_check_tcp_check

        check = _parse_check(d.pop("check"))

        delay_secs = d.pop("delay_secs", UNSET)

        interval_secs = d.pop("interval_secs", UNSET)

        timeout_secs = d.pop("timeout_secs", UNSET)

        grace_period_secs = d.pop("grace_period_secs", UNSET)

        consecutive_failures = d.pop("consecutive_failures", UNSET)

        health_check = cls(
            check=check,
            delay_secs=delay_secs,
            interval_secs=interval_secs,
            timeout_secs=timeout_secs,
            grace_period_secs=grace_period_secs,
            consecutive_failures=consecutive_failures,
        )

        return health_check
