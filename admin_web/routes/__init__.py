"""The admin app's routes, one module per area; ``ROUTERS`` is what the app factory includes."""

from __future__ import annotations

from admin_web.routes import (
    analytics,
    auth,
    avatars,
    conversations,
    dashboard,
    faqs,
    system,
    transfer,
    unanswered,
    users,
)

ROUTERS = [
    auth.router,
    dashboard.router,
    faqs.router,
    transfer.router,
    conversations.router,
    unanswered.router,
    analytics.router,
    system.router,
    avatars.router,
    users.router,
]
