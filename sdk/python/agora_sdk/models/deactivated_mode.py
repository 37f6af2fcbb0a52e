from enum import Enum


class DeactivatedMode(str, Enum):
    DEACTIVATED = "deactivated"

    def __str__(self) -> str:
        return str(self.value)
