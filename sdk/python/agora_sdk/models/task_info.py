from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.health_check import HealthCheck
    from ..models.task_info_env import TaskInfoEnv
    from ..models.labels import Labels
    from ..models.fetch_uri import FetchUri
    from ..models.container_info import ContainerInfo
    from ..models.argv_command import ArgvCommand
    from ..models.resources import Resources
    from ..models.shell_command import ShellCommand


T = TypeVar("T", bound="TaskInfo")


@_attrs_define
class TaskInfo:
    """A task to launch, as a framework sends it in a `launch` operation.

    Attributes:
        task_id (str): A task's id, chosen by its framework and unique within it: 1 to 128 characters of `A-Z a-z 0-9 .
            _ -`, not `.` or `..`.
        agent_id (str): An agent's id, minted at its first registration and kept across its restarts: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        resources (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
        command (Union['ArgvCommand', 'ShellCommand']): What a task runs: a shell line (`sh -c`) or an argument vector
            executed directly.
        name (Union[Unset, str]):
        env (Union[Unset, TaskInfoEnv]):
        kill_grace_period_secs (Union[None, Unset, float]): Seconds between SIGTERM and SIGKILL when the task is killed;
            5 when absent.
        labels (Union[Unset, Labels]): Free-form pairs of strings, kept and shown, never interpreted.
        user (Union[None, Unset, str]): The OS user the task runs as. Absent: the agent's default task user (an
            unprivileged
            one). A framework token may name only the users it was issued with, and the agent only
            runs tasks as users on its own allow-list.
        volumes (Union[Unset, list[str]]): Ids of persistent volumes the task uses, from its offers' `volumes`. Each
            appears at
            its `container_path` in the sandbox, and only one live task uses a volume at a time.
        health_check (Union['HealthCheck', None, Unset]):
        container (Union['ContainerInfo', None, Unset]):
        fetch (Union[Unset, list['FetchUri']]): Artifacts downloaded into the sandbox before the task starts.
    """

    task_id: str
    agent_id: str
    resources: "Resources"
    command: Union["ArgvCommand", "ShellCommand"]
    name: Union[Unset, str] = UNSET
    env: Union[Unset, "TaskInfoEnv"] = UNSET
    kill_grace_period_secs: Union[None, Unset, float] = UNSET
    labels: Union[Unset, "Labels"] = UNSET
    user: Union[None, Unset, str] = UNSET
    volumes: Union[Unset, list[str]] = UNSET
    health_check: Union["HealthCheck", None, Unset] = UNSET
    container: Union["ContainerInfo", None, Unset] = UNSET
    fetch: Union[Unset, list["FetchUri"]] = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.health_check import HealthCheck
        from ..models.container_info import ContainerInfo
        from ..models.shell_command import ShellCommand

        task_id = self.task_id

        agent_id = self.agent_id

        resources = self.resources.to_dict()

        command: dict[str, Any]
        if isinstance(self.command, ShellCommand):
            command = self.command.to_dict()
        else:
            command = self.command.to_dict()

        name = self.name

        env: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.env, Unset):
            env = self.env.to_dict()

        kill_grace_period_secs: Union[None, Unset, float]
        if isinstance(self.kill_grace_period_secs, Unset):
            kill_grace_period_secs = UNSET
        else:
            kill_grace_period_secs = self.kill_grace_period_secs

        labels: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.labels, Unset):
            labels = self.labels.to_dict()

        user: Union[None, Unset, str]
        if isinstance(self.user, Unset):
            user = UNSET
        else:
            user = self.user

        volumes: Union[Unset, list[str]] = UNSET
        if not isinstance(self.volumes, Unset):
            volumes = self.volumes

        health_check: Union[None, Unset, dict[str, Any]]
        if isinstance(self.health_check, Unset):
            health_check = UNSET
        elif isinstance(self.health_check, HealthCheck):
            health_check = self.health_check.to_dict()
        else:
            health_check = self.health_check

        container: Union[None, Unset, dict[str, Any]]
        if isinstance(self.container, Unset):
            container = UNSET
        elif isinstance(self.container, ContainerInfo):
            container = self.container.to_dict()
        else:
            container = self.container

        fetch: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.fetch, Unset):
            fetch = []
            for fetch_item_data in self.fetch:
                fetch_item = fetch_item_data.to_dict()
                fetch.append(fetch_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "task_id": task_id,
                "agent_id": agent_id,
                "resources": resources,
                "command": command,
            }
        )
        if name is not UNSET:
            field_dict["name"] = name
        if env is not UNSET:
            field_dict["env"] = env
        if kill_grace_period_secs is not UNSET:
            field_dict["kill_grace_period_secs"] = kill_grace_period_secs
        if labels is not UNSET:
            field_dict["labels"] = labels
        if user is not UNSET:
            field_dict["user"] = user
        if volumes is not UNSET:
            field_dict["volumes"] = volumes
        if health_check is not UNSET:
            field_dict["health_check"] = health_check
        if container is not UNSET:
            field_dict["container"] = container
        if fetch is not UNSET:
            field_dict["fetch"] = fetch

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.health_check import HealthCheck
        from ..models.task_info_env import TaskInfoEnv
        from ..models.labels import Labels
        from ..models.fetch_uri import FetchUri
        from ..models.container_info import ContainerInfo
        from ..models.argv_command import ArgvCommand
        from ..models.resources import Resources
        from ..models.shell_command import ShellCommand

        d = dict(src_dict)
        task_id = d.pop("task_id")

        agent_id = d.pop("agent_id")

        resources = Resources.from_dict(d.pop("resources"))

        def _parse_command(data: object) -> Union["ArgvCommand", "ShellCommand"]:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_command_shell_command = ShellCommand.from_dict(data)

                return componentsschemas_command_shell_command
            except:  # noqa: E722
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_command_argv_command = ArgvCommand.from_dict(data)

            return componentsschemas_command_argv_command

        command = _parse_command(d.pop("command"))

        name = d.pop("name", UNSET)

        _env = d.pop("env", UNSET)
        env: Union[Unset, TaskInfoEnv]
        if isinstance(_env, Unset):
            env = UNSET
        else:
            env = TaskInfoEnv.from_dict(_env)

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

        def _parse_user(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        user = _parse_user(d.pop("user", UNSET))

        volumes = cast(list[str], d.pop("volumes", UNSET))

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

        fetch = []
        _fetch = d.pop("fetch", UNSET)
        for fetch_item_data in _fetch or []:
            fetch_item = FetchUri.from_dict(fetch_item_data)

            fetch.append(fetch_item)

        task_info = cls(
            task_id=task_id,
            agent_id=agent_id,
            resources=resources,
            command=command,
            name=name,
            env=env,
            kill_grace_period_secs=kill_grace_period_secs,
            labels=labels,
            user=user,
            volumes=volumes,
            health_check=health_check,
            container=container,
            fetch=fetch,
        )

        return task_info
