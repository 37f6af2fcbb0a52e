from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field


from ..models.log_stream import LogStream


T = TypeVar("T", bound="ReadLogCommand")


@_attrs_define
class ReadLogCommand:
    """Data of the `read_log` command: send bytes of a task's sandbox file to
    `POST /v1/agents/{id}/logs/{request_id}`.

        Attributes:
            request_id (str):
            framework_id (str): A framework's id, minted at registration and kept across failovers: 1 to 128 characters of
                `A-Z a-z 0-9 . _ -`, not `.` or `..`.
            task_id (str): A task's id, chosen by its framework and unique within it: 1 to 128 characters of `A-Z a-z 0-9 .
                _ -`, not `.` or `..`.
            stream (LogStream): Which of a task's output files.
            offset (int): Byte offset to read from.
            max_bytes (int): The most bytes to send.
            wait_secs (float): If the file has nothing past `offset` and the task still runs, wait up to this long for
                more before answering.
    """

    request_id: str
    framework_id: str
    task_id: str
    stream: LogStream
    offset: int
    max_bytes: int
    wait_secs: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        request_id = self.request_id

        framework_id = self.framework_id

        task_id = self.task_id

        stream = self.stream.value

        offset = self.offset

        max_bytes = self.max_bytes

        wait_secs = self.wait_secs

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "request_id": request_id,
                "framework_id": framework_id,
                "task_id": task_id,
                "stream": stream,
                "offset": offset,
                "max_bytes": max_bytes,
                "wait_secs": wait_secs,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        request_id = d.pop("request_id")

        framework_id = d.pop("framework_id")

        task_id = d.pop("task_id")

        stream = LogStream(d.pop("stream"))

        offset = d.pop("offset")

        max_bytes = d.pop("max_bytes")

        wait_secs = d.pop("wait_secs")

        read_log_command = cls(
            request_id=request_id,
            framework_id=framework_id,
            task_id=task_id,
            stream=stream,
            offset=offset,
            max_bytes=max_bytes,
            wait_secs=wait_secs,
        )

        read_log_command.additional_properties = d
        return read_log_command

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
