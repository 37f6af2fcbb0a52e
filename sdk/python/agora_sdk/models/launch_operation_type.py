from enum import Enum


class LaunchOperationType(str, Enum):
    LAUNCH = "launch"

    def __str__(self) -> str:
        return str(self.value)
