"""Writing audit events."""

from __future__ import annotations

from sqlalchemy.orm import Session
from werkzeug.local import LocalProxy

from portal.audit.models import AuditEvent


def record_event(session: Session, actor, action: str, obj=None, **details) -> AuditEvent:
    """Append an audit event for a state change: who, what, on which object, with details."""
    # `current_user` is a proxy: record the user it stands for (type(proxy) is LocalProxy).
    obj = obj._get_current_object() if isinstance(obj, LocalProxy) else obj
    if obj is not None and getattr(obj, "id", None) is None:
        session.flush()
    actor_id = getattr(actor, "id", None) if actor is not None else None
    event = AuditEvent(
        actor_id=actor_id,
        action=action,
        object_type=type(obj).__tablename__ if obj is not None else "",
        object_id=getattr(obj, "id", None),
        details={key: _plain(value) for key, value in details.items()},
    )
    session.add(event)
    return event


def _plain(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple, set)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)
