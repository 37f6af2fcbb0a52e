from enum import Enum


class DestroyVolumeOperationType(str, Enum):
    DESTROY_VOLUME = "destroy_volume"

    def __str__(self) -> str:
        return str(self.value)
