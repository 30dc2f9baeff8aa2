"""What a staff member may do about a person's data at the person's request, from their case.

The person can do all of this themselves in the chat (actions/intake.py); staff do it for
them when asked (on the phone, at the office). Plain functions over a `Session`; the caller
owns the transaction. Each checks the same permission as acting on the case
(`cases.can_act`: the holder, or a supervisor/admin of the team), and each is audited without
personal data.

- `consent_status`: which permissions the person has given now (no personal data; audited as
  a read of the case).
- `withdraw_consent`: a new consent record withdrawing `follow_up` (or `intake`), as the
  person would; the consent text version is the current one of content/intake.yml.
- `delete_person_data`: the person's intake, consents, cases and transcripts (and, with the
  tracker engine, their conversation), with a deletion receipt holding only counts.
"""

from __future__ import annotations

import datetime as dt
from typing import Dict, Optional

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from actions.services import cases
from actions.services.intake import intake_content
from actions.storage import repository

STAFF_WITHDRAWABLE = ("follow_up", "intake")
CHANNEL = "staffconsole"


def _case_to_act_on(session: Session, staff: cases.Staff, case_id: int) -> cases.CaseView:
    case = cases.get_case(session, staff, case_id)
    if not cases.can_act(staff, case):
        raise cases.Forbidden("only the person holding the case or a supervisor may do this")
    return case


def consent_status(session: Session, staff: cases.Staff, case_id: int) -> Dict[str, bool]:
    """The person's current consents by purpose (a purpose never decided is absent)."""
    case = cases.get_case(session, staff, case_id)
    return repository.current_consents(session, case.person_id)


def withdraw_consent(session: Session, staff: cases.Staff, case_id: int, purpose: str,
                     now: dt.datetime) -> Dict[str, bool]:
    """Withdraw the person's `purpose` consent on their behalf; the consents after it."""
    if purpose not in STAFF_WITHDRAWABLE:
        raise cases.InvalidRequest(f"purpose must be one of {', '.join(STAFF_WITHDRAWABLE)}")
    case = _case_to_act_on(session, staff, case_id)
    version = str(intake_content()["consent"]["version"])
    repository.withdraw(session, case.person_id, purpose, version, CHANNEL)
    cases._audit(session, "consent_withdrawn_by_staff", now, staff=staff, case_id=case.id,
                 person_id=case.person_id, purpose=purpose)
    session.flush()
    return repository.current_consents(session, case.person_id)


def delete_person_data(session: Session, staff: cases.Staff, case_id: int, now: dt.datetime,
                       tracker_engine: Optional[Engine] = None) -> Dict[str, int]:
    """Delete everything about the case's person on their request; counts of what went.

    The audit entry names the staff member and the case id only (the person no longer
    exists; earlier entries lose their person id, as on any deletion)."""
    case = _case_to_act_on(session, staff, case_id)
    counts = repository.delete_person(
        session, case.person_id, tracker_engine=tracker_engine,
        sender_ids=[case.conversation_id] if tracker_engine is not None else [])
    cases._audit(session, "person_deleted_by_staff", now, staff=staff, case_id=case.id,
                 **{f"deleted_{name}": count for name, count in counts.items()})
    session.flush()
    return counts
