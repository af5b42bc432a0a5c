"""The actions the log knows (Law Enforcement Directive art. 25; WPA). No I/O.

The log never refuses a record: an action outside this list is appended like any other and
only counted (anpr_audit_unknown_actions_total), so a producer's typo is seen, not lost.
"""

from __future__ import annotations

from anpr_core.auth import Action

# What each action is, and where its details go in AuditEvent.
LEGAL_ACTIONS: dict[str, str] = {
    "search": "consultation: query, purpose, case, legal basis, prosecutor decision, records found",
    "view_image": "consultation of a read's images: record ids",
    "export": "disclosure: records (ids or count and digest), recipients",
    "hotlist_change": "alteration of a hotlist: target entry, changes, case, reason in detail",
    "hit_ack": "an operator's confirmation or false-alarm mark: target hit, detail",
    "dpo_decision": "a data-subject request decided: case, records, decision and reasons in detail",
    "erasure": "erasure of records: ids or count and digest, case",
    "rectification": "a misread record corrected on a DPO decision: target, old and new value in changes",
    "retention_delete": "erasure by the retention job: count, digest, period in query",
    "config_change": "alteration of settings: target, changes",
    "share_out": "disclosure to a neighbour zone: records, recipients, the agreement (query, case reference)",
    "agreement_change": "a sharing agreement with a neighbour zone made, changed or revoked: target, changes",
    "login": "an operator's authentication",
    "camera_change": "alteration of the camera register: target camera, changes",
    "audit_verify": "the audit log verified on request: period in query, verdict in detail",
    "audit_checkpoints": "the audit log's signed checkpoints read: records (checkpoint/seq)",
    "audit_checkpoint": "a checkpoint of the audit log signed on request: target (checkpoint/seq), detail",
}

# Refused attempts are audited under the authorisation action that was refused (auth.Action).
KNOWN_ACTIONS: frozenset[str] = frozenset(LEGAL_ACTIONS) | frozenset(action.value for action in Action)


def is_known(action: str) -> bool:
    return action in KNOWN_ACTIONS
