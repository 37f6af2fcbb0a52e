from enum import Enum


class Containerizer(str, Enum):
    DOCKER = "docker"
    OCI = "oci"
    PROCESS = "process"

    def __str__(self) -> str:
        return str(self.value)
