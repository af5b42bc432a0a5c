"""Which pages each role sees, derived from the one role x action table (anpr_core.auth.PERMISSIONS):
the console shows a page to whoever the API lets do what the page is for, and no one else."""

from __future__ import annotations

from anpr_core.auth import PERMISSIONS, Action, Role

# A page is shown to a role allowed any of its actions; the first is what the page is mostly for.
PAGES: dict[str, tuple[Action, ...]] = {
    "live": (Action.VIEW_HITS,),
    "search": (Action.SEARCH_PASSAGES,),
    "hotlists": (Action.VIEW_HOTLIST,),
    "cameras": (Action.VIEW_CAMERAS,),
    "traffic": (Action.VIEW_STATS,),
    "dpo": (Action.DPO_REQUESTS,),
    "audit": (Action.READ_AUDIT, Action.VERIFY_AUDIT),
}


def pages_for(role: Role) -> list[str]:
    return [page for page, actions in PAGES.items() if any(role in PERMISSIONS[a] for a in actions)]


def actions_for(role: Role) -> list[str]:
    """What the role may do, for the page to show or hide its buttons (the API decides either way)."""
    return sorted(action.value for action, roles in PERMISSIONS.items() if role in roles)
