from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.health_check import HealthCheck
    from ..models.task_template_env import TaskTemplateEnv
    from ..models.labels import Labels
    from ..models.fetch_uri import FetchUri
    from ..models.container_info import ContainerInfo
    from ..models.argv_command import ArgvCommand
    from ..models.resources import Resources
    from ..models.service_port import ServicePort
    from ..models.shell_command import ShellCommand


T = TypeVar("T", bound="TaskTemplate")


@_attrs_define
class TaskTemplate:
    """The task each instance runs: a launch's task without the parts the scheduler fills in
    (id, agent, ports).

        Attributes:
            resources (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
            command (Union['ArgvCommand', 'ShellCommand', None, Unset]):
            container (Union['ContainerInfo', None, Unset]):
            env (Union[Unset, TaskTemplateEnv]):
            fetch (Union[Unset, list['FetchUri']]):
            health_check (Union['HealthCheck', None, Unset]):
            kill_grace_period_secs (Union[None, Unset, float]):
            labels (Union[Unset, Labels]): Free-form pairs of strings, kept and shown, never interpreted.
            ports (Union[Unset, list['ServicePort']]): Host ports each instance gets, from its agent's offered ranges, in
                order: the task sees
                them as `$PORT0`, `$PORT1`, ...; a bridged container's port mappings without a host
                port take them in order. DNS names each one by its name (SRV `_NAME._tcp`).
            user (Union[None, Unset, str]): The OS user the instances run as; absent: the agent's default task user.
    """

    resources: "Resources"
    command: Union["ArgvCommand", "ShellCommand", None, Unset] = UNSET
    container: Union["ContainerInfo", None, Unset] = UNSET
    env: Union[Unset, "TaskTemplateEnv"] = UNSET
    fetch: Union[Unset, list["FetchUri"]] = UNSET
    health_check: Union["HealthCheck", None, Unset] = UNSET
    kill_grace_period_secs: Union[None, Unset, float] = UNSET
    labels: Union[Unset, "Labels"] = UNSET
    ports: Union[Unset, list["ServicePort"]] = UNSET
    user: Union[None, Unset, str] = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.health_check import HealthCheck
        from ..models.container_info import ContainerInfo
        from ..models.argv_command import ArgvCommand
        from ..models.shell_command import ShellCommand

        resources = self.resources.to_dict()

        command: Union[None, Unset, dict[str, Any]]
        if isinstance(self.command, Unset):
            command = UNSET
        elif isinstance(self.command, ShellCommand):
            command = self.command.to_dict()
        elif isinstance(self.command, ArgvCommand):
            command = self.command.to_dict()
        else:
            command = self.command

        container: Union[None, Unset, dict[str, Any]]
        if isinstance(self.container, Unset):
            container = UNSET
        elif isinstance(self.container, ContainerInfo):
            container = self.container.to_dict()
        else:
            container = self.container

        env: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.env, Unset):
            env = self.env.to_dict()

        fetch: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.fetch, Unset):
            fetch = []
            for fetch_item_data in self.fetch:
                fetch_item = fetch_item_data.to_dict()
                fetch.append(fetch_item)

        health_check: Union[None, Unset, dict[str, Any]]
        if isinstance(self.health_check, Unset):
            health_check = UNSET
        elif isinstance(self.health_check, HealthCheck):
            health_check = self.health_check.to_dict()
        else:
            health_check = self.health_check

        kill_grace_period_secs: Union[None, Unset, float]
        if isinstance(self.kill_grace_period_secs, Unset):
            kill_grace_period_secs = UNSET
        else:
            kill_grace_period_secs = self.kill_grace_period_secs

        labels: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.labels, Unset):
            labels = self.labels.to_dict()

        ports: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.ports, Unset):
            ports = []
            for ports_item_data in self.ports:
                ports_item = ports_item_data.to_dict()
                ports.append(ports_item)

        user: Union[None, Unset, str]
        if isinstance(self.user, Unset):
            user = UNSET
        else:
            user = self.user

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "resources": resources,
            }
        )
        if command is not UNSET:
            field_dict["command"] = command
        if container is not UNSET:
            field_dict["container"] = container
        if env is not UNSET:
            field_dict["env"] = env
        if fetch is not UNSET:
            field_dict["fetch"] = fetch
        if health_check is not UNSET:
            field_dict["health_check"] = health_check
        if kill_grace_period_secs is not UNSET:
            field_dict["kill_grace_period_secs"] = kill_grace_period_secs
        if labels is not UNSET:
            field_dict["labels"] = labels
        if ports is not UNSET:
            field_dict["ports"] = ports
        if user is not UNSET:
            field_dict["user"] = user

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.health_check import HealthCheck
        from ..models.task_template_env import TaskTemplateEnv
        from ..models.labels import Labels
        from ..models.fetch_uri import FetchUri
        from ..models.container_info import ContainerInfo
        from ..models.argv_command import ArgvCommand
        from ..models.resources import Resources
        from ..models.service_port import ServicePort
        from ..models.shell_command import ShellCommand

        d = dict(src_dict)
        resources = Resources.from_dict(d.pop("resources"))

        def _parse_command(
            data: object,
        ) -> Union["ArgvCommand", "ShellCommand", None, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_command_shell_command = ShellCommand.from_dict(data)

                return componentsschemas_command_shell_command
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_command_argv_command = ArgvCommand.from_dict(data)

                return componentsschemas_command_argv_command
            except:  # noqa: E722
                pass
            return cast(Union["ArgvCommand", "ShellCommand", None, Unset], data)

        command = _parse_command(d.pop("command", UNSET))

        def _parse_container(data: object) -> Union["ContainerInfo", None, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                container_type_1 = ContainerInfo.from_dict(data)

                return container_type_1
            except:  # noqa: E722
                pass
            return cast(Union["ContainerInfo", None, Unset], data)

        container = _parse_container(d.pop("container", UNSET))

        _env = d.pop("env", UNSET)
        env: Union[Unset, TaskTemplateEnv]
        if isinstance(_env, Unset):
            env = UNSET
        else:
            env = TaskTemplateEnv.from_dict(_env)

        fetch = []
        _fetch = d.pop("fetch", UNSET)
        for fetch_item_data in _fetch or []:
            fetch_item = FetchUri.from_dict(fetch_item_data)

            fetch.append(fetch_item)

        def _parse_health_check(data: object) -> Union["HealthCheck", None, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                health_check_type_1 = HealthCheck.from_dict(data)

                return health_check_type_1
            except:  # noqa: E722
                pass
            return cast(Union["HealthCheck", None, Unset], data)

        health_check = _parse_health_check(d.pop("health_check", UNSET))

        def _parse_kill_grace_period_secs(data: object) -> Union[None, Unset, float]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, float], data)

        kill_grace_period_secs = _parse_kill_grace_period_secs(
            d.pop("kill_grace_period_secs", UNSET)
        )

        _labels = d.pop("labels", UNSET)
        labels: Union[Unset, Labels]
        if isinstance(_labels, Unset):
            labels = UNSET
        else:
            labels = Labels.from_dict(_labels)

        ports = []
        _ports = d.pop("ports", UNSET)
        for ports_item_data in _ports or []:
            ports_item = ServicePort.from_dict(ports_item_data)

            ports.append(ports_item)

        def _parse_user(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        user = _parse_user(d.pop("user", UNSET))

        task_template = cls(
            resources=resources,
            command=command,
            container=container,
            env=env,
            fetch=fetch,
            health_check=health_check,
            kill_grace_period_secs=kill_grace_period_secs,
            labels=labels,
            ports=ports,
            user=user,
        )

        return task_template
