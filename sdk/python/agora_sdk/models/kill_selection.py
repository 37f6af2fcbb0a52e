from enum import Enum


class KillSelection(str, Enum):
    OLDEST_FIRST = "oldest_first"
    YOUNGEST_FIRST = "youngest_first"

    def __str__(self) -> str:
        return str(self.value)
