from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import cast, Union


T = TypeVar("T", bound="FetchUri")


@_attrs_define
class FetchUri:
    """An artifact the agent downloads into the sandbox before the task starts.

    Attributes:
        uri (str): `http://`, `https://` or `file://` (a path on the agent).
        sha256 (Union[None, Unset, str]): The hex SHA-256 the download must have; without it, anything is taken.
        extract (Union[Unset, bool]): Unpack a `.tar`, `.tar.gz`, `.tgz`, `.tar.zst` or `.zip` into the sandbox instead
            of
            keeping the archive.
        executable (Union[Unset, bool]): Make the file executable (when not extracted).
        cache (Union[Unset, bool]): Keep it in the agent's fetch cache for later tasks (only with `sha256`, which names
            it
            there).
    """

    uri: str
    sha256: Union[None, Unset, str] = UNSET
    extract: Union[Unset, bool] = UNSET
    executable: Union[Unset, bool] = UNSET
    cache: Union[Unset, bool] = UNSET

    def to_dict(self) -> dict[str, Any]:
        uri = self.uri

        sha256: Union[None, Unset, str]
        if isinstance(self.sha256, Unset):
            sha256 = UNSET
        else:
            sha256 = self.sha256

        extract = self.extract

        executable = self.executable

        cache = self.cache

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "uri": uri,
            }
        )
        if sha256 is not UNSET:
            field_dict["sha256"] = sha256
        if extract is not UNSET:
            field_dict["extract"] = extract
        if executable is not UNSET:
            field_dict["executable"] = executable
        if cache is not UNSET:
            field_dict["cache"] = cache

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        uri = d.pop("uri")

        def _parse_sha256(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        sha256 = _parse_sha256(d.pop("sha256", UNSET))

        extract = d.pop("extract", UNSET)

        executable = d.pop("executable", UNSET)

        cache = d.pop("cache", UNSET)

        fetch_uri = cls(
            uri=uri,
            sha256=sha256,
            extract=extract,
            executable=executable,
            cache=cache,
        )

        return fetch_uri
