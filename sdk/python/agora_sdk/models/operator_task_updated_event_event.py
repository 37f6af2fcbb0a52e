from enum import Enum


class OperatorTaskUpdatedEventEvent(str, Enum):
    TASK_UPDATED = "task_updated"

    def __str__(self) -> str:
        return str(self.value)
