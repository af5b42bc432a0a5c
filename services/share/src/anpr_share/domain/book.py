"""What this zone shares with whom, now: the agreements as this replica knows them and the camera
register's border cameras; which agreements a read, a hotlist record or a neighbour's record falls
under. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from anpr_share.domain.agreements import Agreement
from anpr_share.domain.zone_topics import SharedKind


@dataclass(frozen=True)
class Disclosure:
    """The records of one batch (their positions) that one agreement shares."""

    agreement: Agreement
    positions: list[int] = field(default_factory=list)


class AgreementBook:
    def __init__(self, zone_id: str) -> None:
        self.zone_id = zone_id
        self._agreements: dict[str, Agreement] = {}
        # The register's border cameras in service: camera -> the neighbour zone it is shared with.
        self._border: dict[str, str] = {}
        # Per camera, the agreements whose reads cover it (whatever their dates): reads come by
        # the thousand a second, agreements change by the year.
        self._covering: dict[str, tuple[Agreement, ...]] = {}

    def load(self, agreements: Iterable[Agreement]) -> None:
        """The agreements as stored (the refresh: a change made on another replica arrives here).
        A version older than the one known is kept out: a refresh that read the database just
        before a revocation here committed must not bring the agreement back."""
        for agreement in agreements:
            known = self._agreements.get(agreement.agreement_id)
            if known is None or agreement.updated_at >= known.updated_at:
                self._agreements[agreement.agreement_id] = agreement
        self._covering.clear()

    def put(self, agreement: Agreement) -> None:
        """One agreement made or changed here: in force on this replica at once."""
        self._agreements[agreement.agreement_id] = agreement
        self._covering.clear()

    def camera(self, camera_id: str, *, border: bool, neighbour_zone: str, retired: bool) -> None:
        """A camera's entry in the register, as ingest announces it."""
        if border and neighbour_zone and not retired:
            self._border[camera_id] = neighbour_zone
        else:
            self._border.pop(camera_id, None)
        self._covering.pop(camera_id, None)

    def agreements(self) -> list[Agreement]:
        return list(self._agreements.values())

    def get(self, agreement_id: str) -> Agreement | None:
        return self._agreements.get(agreement_id)

    def partners(self) -> set[str]:
        """Every neighbour with an agreement, whatever its state: what they send is read (and refused
        with its reason when no agreement in force takes it)."""
        return {a.partner_zone for a in self._agreements.values()}

    def sharing_out(self, now: datetime) -> set[str]:
        """The neighbours this zone shares something with now."""
        return {
            a.partner_zone
            for a in self._agreements.values()
            if a.in_force(now) and (a.terms.reads_out.shares or a.terms.hotlists_out.shares)
        }

    def read_agreements(self, camera_id: str, now: datetime) -> list[Agreement]:
        """The agreements in force that share the reads of this camera."""
        covering = self._covering.get(camera_id)
        if covering is None:
            border_of = self._border.get(camera_id)
            covering = self._covering[camera_id] = tuple(
                a
                for a in self._agreements.values()
                if camera_id in a.terms.reads_out.camera_ids
                or (a.terms.reads_out.border_cameras and border_of == a.partner_zone)
            )
        return [a for a in covering if a.in_force(now)]

    def plan_reads(self, cameras: Sequence[str], now: datetime) -> list[Disclosure]:
        """For a batch of reads (their cameras, in order), what each agreement in force shares."""
        plans: dict[str, Disclosure] = {}
        for position, camera_id in enumerate(cameras):
            for agreement in self.read_agreements(camera_id, now):
                plans.setdefault(agreement.agreement_id, Disclosure(agreement)).positions.append(position)
        return list(plans.values())

    def plan_hotlist(self, lists: Sequence[tuple[str, str]], now: datetime) -> list[Disclosure]:
        """For a batch of hotlist records (list name and category of each), what each agreement in
        force shares."""
        plans: dict[str, Disclosure] = {}
        sharing = [a for a in self._agreements.values() if a.in_force(now) and a.terms.hotlists_out.shares]
        for position, (list_name, category) in enumerate(lists):
            for agreement in sharing:
                if agreement.terms.hotlists_out.covers(list_name, category):
                    plans.setdefault(agreement.agreement_id, Disclosure(agreement)).positions.append(position)
        return list(plans.values())

    def inbound(self, partner_zone: str, kind: SharedKind, now: datetime) -> Agreement | None:
        """The agreement in force under which this zone takes `kind` from the neighbour; None: none."""
        for agreement in self._agreements.values():
            if agreement.partner_zone != partner_zone or not agreement.in_force(now):
                continue
            inbound = agreement.terms.inbound
            if inbound.reads if kind is SharedKind.READS else inbound.hotlists:
                return agreement
        return None
