"""What every ``kiosk`` subcommand receives: the home, settings loaded on first use, wired services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from core.home import KioskHome
from core.settings import Settings, load_settings

if TYPE_CHECKING:
    from runtime.services import KioskServices


@dataclass
class AppContext:
    """What every subcommand needs: the home, and settings loaded on first use."""

    home: KioskHome
    verbose: int = 0
    _settings: Settings | None = field(default=None, repr=False)
    _services: KioskServices | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.home.settings_file)
        return self._settings

    @property
    def services(self) -> KioskServices:
        if self._services is None:
            from runtime.services import KioskServices

            self._services = KioskServices(settings=self.settings, home=self.home)
        return self._services


pass_app = click.make_pass_decorator(AppContext)
