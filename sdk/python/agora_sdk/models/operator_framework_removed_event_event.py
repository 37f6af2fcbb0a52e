from enum import Enum


class OperatorFrameworkRemovedEventEvent(str, Enum):
    FRAMEWORK_REMOVED = "framework_removed"

    def __str__(self) -> str:
        return str(self.value)
