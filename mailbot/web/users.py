"""Accounts in the web UI: everyone changes their own password; admins manage staff and
read the audit log (log-ins, refused log-ins, account changes).

A password an admin sets (new user, reset) is generated, shown once on the response page and
never stored in the session cookie, which is signed but readable. Changing a password ends
that user's other sessions. Every change is on the audit trail.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mailbot.db.web_models import ROLES, AuditEntry, User
from mailbot.web import sessions
from mailbot.web.accounts import (
    MIN_PASSWORD,
    AccountError,
    add_user,
    audit,
    change_own_password,
    find_user,
    generate_password,
    list_users,
    set_active,
    set_password,
)
from mailbot.web.auth import action, begin_session, page
from mailbot.web.context import flash, form_text, render


def _secret(form: FormData, name: str) -> str:
    # Passwords as typed: no stripping, a generous cap against abuse.
    value = form.get(name, "")
    return value[:1000] if isinstance(value, str) else ""


# ---------------------------------------------------------------------------- own account


@page()
def account_page(request: Request, session: Session, user: User) -> Response:
    return render(
        request,
        "account.html",
        user,
        nav="account",
        min_password=MIN_PASSWORD,
        signed_in=sessions.count(session, user),
    )


@action()
def change_password(request: Request, session: Session, user: User, form: FormData) -> Response:
    new = _secret(form, "new_password")
    if new != _secret(form, "confirm_password"):
        flash(request, "The new password and its confirmation differ.", "error")
        return RedirectResponse("/account", status_code=303)
    try:
        change_own_password(session, user, _secret(form, "current_password"), new)
    except AccountError as exc:
        flash(request, f"Password not changed: {exc}.", "error")
        return RedirectResponse("/account", status_code=303)
    audit(session, user.username, "password_changed", user.username)
    # Every session of this user has ended; this browser gets a new one (a new id, too).
    begin_session(request, session, user)
    flash(request, "Password changed. You are signed out everywhere else.")
    return RedirectResponse("/account", status_code=303)


@action()
def sign_out_everywhere(request: Request, session: Session, user: User, form: FormData) -> Response:
    """End every session of this user, this one included (a lost laptop, a shared PC)."""
    ended = sessions.end_all(session, user)
    audit(session, user.username, "signed_out_everywhere", user.username, sessions=ended)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


# ---------------------------------------------------------------------------- staff (admin)


def _users_page(
    request: Request,
    session: Session,
    user: User,
    status_code: int = 200,
    handed_over: tuple[str, str] | None = None,
) -> Response:
    return render(
        request,
        "users.html",
        user,
        status_code=status_code,
        nav="users",
        users=list_users(session),
        roles=ROLES,
        handed_over=handed_over,
    )


@page("admin")
def users_page(request: Request, session: Session, user: User) -> Response:
    return _users_page(request, session, user)


@action("admin")
def create_user(request: Request, session: Session, user: User, form: FormData) -> Response:
    password = generate_password()
    try:
        added = add_user(
            session,
            form_text(form, "username", 100),
            password,
            form_text(form, "role", 20),
            form_text(form, "display_name", 200),
        )
    except AccountError as exc:
        flash(request, f"User not added: {exc}.", "error")
        return RedirectResponse("/users", status_code=303)
    audit(session, user.username, "user_added", added.username, role=added.role)
    return _users_page(request, session, user, handed_over=(added.username, password))


@action("admin")
def user_active(request: Request, session: Session, user: User, form: FormData) -> Response:
    username = request.path_params["username"]
    active = form_text(form, "active", 10) == "1"
    try:
        if not active and find_user(session, username).id == user.id:
            raise AccountError("you cannot disable your own account")
        changed = set_active(session, username, active)
    except AccountError as exc:
        flash(request, f"Not changed: {exc}.", "error")
        return RedirectResponse("/users", status_code=303)
    audit(session, user.username, "user_enabled" if active else "user_disabled", changed.username)
    flash(request, f"{changed.username} {'enabled' if active else 'disabled'}.")
    return RedirectResponse("/users", status_code=303)


@action("admin")
def reset_password(request: Request, session: Session, user: User, form: FormData) -> Response:
    password = generate_password()
    try:
        changed = set_password(session, request.path_params["username"], password)
    except AccountError as exc:
        flash(request, f"Not changed: {exc}.", "error")
        return RedirectResponse("/users", status_code=303)
    audit(session, user.username, "password_reset", changed.username)
    if changed.id == user.id:
        begin_session(request, session, changed)
    return _users_page(request, session, user, handed_over=(changed.username, password))


AUDIT_PAGE = 200


@page("admin")
def audit_page(request: Request, session: Session, user: User) -> Response:
    """The newest entries of the audit log, optionally for one user name."""
    who = str(request.query_params.get("user", "")).strip().lower()[:100]
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if who:
        query = query.where(or_(AuditEntry.username == who, AuditEntry.target == who))
    entries = list(session.scalars(query.limit(AUDIT_PAGE)))
    return render(
        request, "audit.html", user, nav="users", entries=entries, who=who, limit=AUDIT_PAGE
    )
