from enum import Enum


class PredicateType0(str, Enum):
    EXISTS = "exists"

    def __str__(self) -> str:
        return str(self.value)
