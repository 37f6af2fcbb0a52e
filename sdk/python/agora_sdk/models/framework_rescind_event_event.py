from enum import Enum


class FrameworkRescindEventEvent(str, Enum):
    RESCIND = "rescind"

    def __str__(self) -> str:
        return str(self.value)
