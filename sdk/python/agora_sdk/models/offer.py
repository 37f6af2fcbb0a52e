from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.offer_attributes import OfferAttributes
    from ..models.resources import Resources
    from ..models.volume import Volume


T = TypeVar("T", bound="Offer")


@_attrs_define
class Offer:
    """Resources of one agent offered to one framework.

    Attributes:
        id (str): An offer's id; an offer may be used by one accept or decline only: 1 to 128 characters of `A-Z a-z 0-9
            . _ -`, not `.` or `..`.
        framework_id (str): A framework's id, minted at registration and kept across failovers: 1 to 128 characters of
            `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        agent_id (str): An agent's id, minted at its first registration and kept across its restarts: 1 to 128
            characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
        hostname (str):
        role (str):
        resources (Resources): A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
        attributes (OfferAttributes):
        reservation (Union[None, Unset, str]): Set when the resources are reserved on the agent to this role (or a role
            above it):
            tasks launched on them use the reservation.
        volumes (Union[Unset, list['Volume']]): Persistent volumes of the reservation that no task uses: a task launched
            on the offer
            may name them. Their disk is not in `resources`.
    """

    id: str
    framework_id: str
    agent_id: str
    hostname: str
    role: str
    resources: "Resources"
    attributes: "OfferAttributes"
    reservation: Union[None, Unset, str] = UNSET
    volumes: Union[Unset, list["Volume"]] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        framework_id = self.framework_id

        agent_id = self.agent_id

        hostname = self.hostname

        role = self.role

        resources = self.resources.to_dict()

        attributes = self.attributes.to_dict()

        reservation: Union[None, Unset, str]
        if isinstance(self.reservation, Unset):
            reservation = UNSET
        else:
            reservation = self.reservation

        volumes: Union[Unset, list[dict[str, Any]]] = UNSET
        if not isinstance(self.volumes, Unset):
            volumes = []
            for volumes_item_data in self.volumes:
                volumes_item = volumes_item_data.to_dict()
                volumes.append(volumes_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "framework_id": framework_id,
                "agent_id": agent_id,
                "hostname": hostname,
                "role": role,
                "resources": resources,
                "attributes": attributes,
            }
        )
        if reservation is not UNSET:
            field_dict["reservation"] = reservation
        if volumes is not UNSET:
            field_dict["volumes"] = volumes

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.offer_attributes import OfferAttributes
        from ..models.resources import Resources
        from ..models.volume import Volume

        d = dict(src_dict)
        id = d.pop("id")

        framework_id = d.pop("framework_id")

        agent_id = d.pop("agent_id")

        hostname = d.pop("hostname")

        role = d.pop("role")

        resources = Resources.from_dict(d.pop("resources"))

        attributes = OfferAttributes.from_dict(d.pop("attributes"))

        def _parse_reservation(data: object) -> Union[None, Unset, str]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(Union[None, Unset, str], data)

        reservation = _parse_reservation(d.pop("reservation", UNSET))

        volumes = []
        _volumes = d.pop("volumes", UNSET)
        for volumes_item_data in _volumes or []:
            volumes_item = Volume.from_dict(volumes_item_data)

            volumes.append(volumes_item)

        offer = cls(
            id=id,
            framework_id=framework_id,
            agent_id=agent_id,
            hostname=hostname,
            role=role,
            resources=resources,
            attributes=attributes,
            reservation=reservation,
            volumes=volumes,
        )

        offer.additional_properties = d
        return offer

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
