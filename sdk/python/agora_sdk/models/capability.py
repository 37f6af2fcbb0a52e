from enum import Enum


class Capability(str, Enum):
    PARTITION_AWARE = "partition_aware"
    TASK_KILLING_STATE = "task_killing_state"

    def __str__(self) -> str:
        return str(self.value)
