from enum import Enum


class ReserveOperationType(str, Enum):
    RESERVE = "reserve"

    def __str__(self) -> str:
        return str(self.value)
