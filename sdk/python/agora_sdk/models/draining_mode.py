from enum import Enum


class DrainingMode(str, Enum):
    DRAINING = "draining"

    def __str__(self) -> str:
        return str(self.value)
