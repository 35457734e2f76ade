"""Operator accounts (admins only): create, change role, disable, reset password, delete."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from admin_web.accounts import MIN_PASSWORD, ROLES
from admin_web.errors import AdminError
from admin_web.web import Admin, AdminWrite, render, state

router = APIRouter()


def _page(request: Request, *, error: str = "", status: int = 200) -> Response:
    st = state(request)
    return render(
        request,
        "users.html",
        {"users": st.accounts.list_users(), "roles": ROLES, "min_password": MIN_PASSWORD, "error": error},
        status=status,
    )


@router.get("/users")
def users(request: Request, actor: Admin) -> Response:
    return _page(request)


@router.post("/users")
def user_create(
    request: Request,
    actor: AdminWrite,
    username: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
    password: Annotated[str, Form()] = "",
) -> Response:
    st = state(request)
    try:
        st.accounts.create_user(username.strip(), password, role)
    except AdminError as exc:
        return _page(request, error=str(exc), status=400)
    st.accounts.audit("user-create", user=actor.name, ip=actor.ip, target=username.strip(), detail=f"role {role}")
    return RedirectResponse("/users?done=user-created", status_code=303)


@router.post("/users/{name}")
def user_update(
    request: Request,
    actor: AdminWrite,
    name: str,
    role: Annotated[str, Form()] = "",
    disabled: Annotated[str, Form()] = "",
) -> Response:
    st = state(request)
    try:
        st.accounts.update_user(name, role=role or None, disabled=disabled == "1")
    except AdminError as exc:
        return _page(request, error=str(exc), status=400)
    st.accounts.audit(
        "user-update", user=actor.name, ip=actor.ip, target=name, detail=f"role {role}, disabled {disabled == '1'}"
    )
    return RedirectResponse("/users?done=user-updated", status_code=303)


@router.post("/users/{name}/password")
def user_password(request: Request, actor: AdminWrite, name: str, password: Annotated[str, Form()] = "") -> Response:
    st = state(request)
    try:
        st.accounts.set_password(name, password)
    except AdminError as exc:
        return _page(request, error=str(exc), status=400)
    st.accounts.audit("user-password", user=actor.name, ip=actor.ip, target=name)
    if name.lower() == actor.name.lower():  # names are unique regardless of case
        return RedirectResponse("/login?next=" + quote("/users", safe=""), status_code=303)
    return RedirectResponse("/users?done=password-set", status_code=303)


@router.post("/users/{name}/delete")
def user_delete(request: Request, actor: AdminWrite, name: str) -> Response:
    st = state(request)
    if name.lower() == actor.name.lower():  # names are unique regardless of case
        return _page(request, error="You cannot delete your own account.", status=400)
    try:
        st.accounts.delete_user(name)
    except AdminError as exc:
        return _page(request, error=str(exc), status=400)
    st.accounts.audit("user-delete", user=actor.name, ip=actor.ip, target=name)
    return RedirectResponse("/users?done=user-deleted", status_code=303)
