from enum import Enum


class PullPolicy(str, Enum):
    ALWAYS = "always"
    IF_MISSING = "if_missing"

    def __str__(self) -> str:
        return str(self.value)
