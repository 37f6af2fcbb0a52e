from enum import Enum


class FrameworkFailureEventEvent(str, Enum):
    FAILURE = "failure"

    def __str__(self) -> str:
        return str(self.value)
