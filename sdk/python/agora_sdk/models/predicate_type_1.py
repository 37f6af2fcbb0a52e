from enum import Enum


class PredicateType1(str, Enum):
    NOT_EXISTS = "not_exists"

    def __str__(self) -> str:
        return str(self.value)
