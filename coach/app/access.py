"""Who may use the app and whose data a request may touch.

With a login (settings.auth) the user is the logged-in name and nothing a request
sends can change that. Without one the app is meant for one person on their own
machine (it binds 127.0.0.1), so the name typed in the page picks the profile.
"""

from __future__ import annotations

import ipaddress

from coach.errors import ConfigError, InputError


def parse_auth(spec: str) -> list[tuple[str, str]]:
    """'alice:pw1,bob:pw2' -> [('alice', 'pw1'), ('bob', 'pw2')]; '' -> []."""
    pairs: list[tuple[str, str]] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        user, sep, password = item.partition(":")
        if not sep or not user.strip() or not password:
            raise ConfigError(
                "The auth setting (COACH_AUTH) must look like 'user:password' or "
                "'user:password,user2:password2'; one entry has no user or no password."
            )
        pairs.append((user.strip(), password))
    return pairs


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def binding_warning(host: str, auth: str) -> str | None:
    """The warning to log when the app is reachable from other machines without a login."""
    if is_loopback(host) or auth.strip():
        return None
    return (
        f"Serving on {host} without a login: anyone who can reach this machine can use the app "
        "and read every user's interviews. Set COACH_AUTH='user:password' or bind 127.0.0.1."
    )


def resolve_user(logged_in: str | None, typed: str | None) -> str:
    """The user a request acts for: the login name when there is one, else the typed name.
    The engine checks every session it is asked about belongs to this user."""
    if logged_in:
        return logged_in
    name = (typed or "").strip()
    if not name:
        raise InputError(
            "Type your name in the box at the top of the page first: it keeps your interviews and "
            'progress apart (API clients: send "user").'
        )
    return name
