from enum import Enum


class UnreserveOperationType(str, Enum):
    UNRESERVE = "unreserve"

    def __str__(self) -> str:
        return str(self.value)
