"""Sign in, sign out, and the first-run setup page (localhost only, only while no user exists)."""

from __future__ import annotations

import logging
import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from admin_web.accounts import MIN_PASSWORD
from admin_web.errors import AdminError
from admin_web.security import PRE_CSRF_COOKIE, new_token, tokens_match
from admin_web.web import SESSION_COOKIE, ViewerWrite, client_ip, is_local, render, state

_LOGGER = logging.getLogger(__name__)

router = APIRouter()


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"


def _safe_next(target: str) -> str:
    if not target.startswith("/") or target.startswith("//") or "\\" in target or "\n" in target:
        return "/"
    return target


def _set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=state(request).secure_cookies,
        path="/",
    )


def _form_page(request: Request, template: str, context: dict, *, status: int = 200) -> Response:
    token = request.cookies.get(PRE_CSRF_COOKIE) or new_token()
    response = render(request, template, {**context, "csrf_token": token}, status=status)
    _set_cookie(request, response, PRE_CSRF_COOKIE, token, max_age=3600)
    return response


def _check_pre_csrf(request: Request, given: str) -> None:
    if not tokens_match(request.cookies.get(PRE_CSRF_COOKIE), given):
        raise HTTPException(403, "csrf")


def _signed_in(request: Request, name: str, next_path: str) -> Response:
    st = state(request)
    user = st.accounts.get_user(name)
    assert user is not None
    token, _csrf = st.accounts.start_session(
        user, ip=client_ip(request), user_agent=request.headers.get("user-agent", "")
    )
    response = RedirectResponse(_safe_next(next_path), status_code=303)
    _set_cookie(request, response, SESSION_COOKIE, token)
    response.delete_cookie(PRE_CSRF_COOKIE, path="/")
    return response


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    st = state(request)
    no_users = st.accounts.count_users() == 0
    if no_users and is_local(request):
        return RedirectResponse("/setup", status_code=303)
    return _form_page(request, "login.html", {"next": _safe_next(next), "no_users": no_users})


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    _check_pre_csrf(request, csrf_token)
    st = state(request)
    ip = client_ip(request)
    name = username.strip()[:64]
    with st.login_lock:  # worker thread only: attempts are counted one at a time
        wait = st.accounts.throttled(name, ip)
        if wait:
            st.accounts.audit("login-throttled", user=name, ip=ip)
            response = _form_page(
                request,
                "login.html",
                {
                    "next": _safe_next(next),
                    "error": f"Too many failed attempts. Try again in {_duration(wait)}.",
                    "username": name,
                },
                status=429,
            )
            response.headers["Retry-After"] = str(wait)
            return response
        user = st.accounts.verify(name, password) if name and password else None
        if user is None:
            st.accounts.record_failure(name, ip)
            st.accounts.audit("login-failed", user=name, ip=ip)
            return _form_page(
                request,
                "login.html",
                {"next": _safe_next(next), "error": "Wrong user name or password.", "username": name},
                status=401,
            )
        st.accounts.clear_failures(name, ip)
        st.accounts.audit("login", user=user.name, ip=ip)
        return _signed_in(request, user.name, next)


@router.post("/logout")
def logout(request: Request, actor: ViewerWrite) -> Response:
    st = state(request)
    st.accounts.end_session(request.cookies.get(SESSION_COOKIE, ""))
    st.accounts.audit("logout", user=actor.name, ip=actor.ip)
    response = RedirectResponse("/login?done=logged-out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _setup_allowed(request: Request) -> None:
    st = state(request)
    if not is_local(request) or st.accounts.count_users() > 0:
        raise HTTPException(404)


@router.get("/setup")
def setup_page(request: Request) -> Response:
    _setup_allowed(request)
    return _form_page(request, "setup.html", {"min_password": MIN_PASSWORD})


@router.post("/setup")
def setup(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    password2: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    _check_pre_csrf(request, csrf_token)
    st = state(request)
    with st.lock:
        _setup_allowed(request)
        error = ""
        if password != password2:
            error = "The two passwords differ."
        else:
            try:
                st.accounts.create_user(username.strip(), password, "admin")
            except AdminError as exc:
                error = str(exc)
        if error:
            return _form_page(
                request,
                "setup.html",
                {"min_password": MIN_PASSWORD, "error": error, "username": username},
                status=400,
            )
        st.accounts.audit(
            "user-create",
            user=username.strip(),
            ip=client_ip(request),
            target=username.strip(),
            detail="first-run setup, role admin",
        )
        return _signed_in(request, username.strip(), "/")
