from enum import Enum


class OperatorFrameworkAddedEventEvent(str, Enum):
    FRAMEWORK_ADDED = "framework_added"

    def __str__(self) -> str:
        return str(self.value)
