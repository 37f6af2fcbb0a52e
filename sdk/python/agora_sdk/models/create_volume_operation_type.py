from enum import Enum


class CreateVolumeOperationType(str, Enum):
    CREATE_VOLUME = "create_volume"

    def __str__(self) -> str:
        return str(self.value)
