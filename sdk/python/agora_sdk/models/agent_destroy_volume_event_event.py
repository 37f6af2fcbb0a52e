from enum import Enum


class AgentDestroyVolumeEventEvent(str, Enum):
    DESTROY_VOLUME = "destroy_volume"

    def __str__(self) -> str:
        return str(self.value)
