from enum import Enum


class NetworkMode(str, Enum):
    BRIDGE = "bridge"
    HOST = "host"

    def __str__(self) -> str:
        return str(self.value)
