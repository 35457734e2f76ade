"""Which class draws which avatar style: the manifest's ``style`` -> an :class:`AvatarStyle` subclass.

A new style is one module with an :class:`~avatar.render.base.AvatarStyle`
subclass and one line in :data:`STYLE_REGISTRY` (the manifest check in
:data:`avatar.pack.STYLES` must accept the name too: ``avatar.pack`` stays
free of Qt for the admin app, and a test keeps the two lists equal).
"""

from __future__ import annotations

import logging

from avatar.pack import AvatarPack
from avatar.render.base import AvatarStyle
from avatar.render.human import HumanStyle
from avatar.render.mascot import MascotStyle
from avatar.render.photoreal import PhotoStyle
from core.errors import AvatarError

_LOGGER = logging.getLogger(__name__)

STYLE_REGISTRY: dict[str, type[AvatarStyle]] = {
    HumanStyle.style: HumanStyle,
    MascotStyle.style: MascotStyle,
    PhotoStyle.style: PhotoStyle,
}


def style_class(pack: AvatarPack) -> type[AvatarStyle]:
    """The class that draws ``pack``'s style; ``avatar-manifest-invalid`` when no class does."""
    cls = STYLE_REGISTRY.get(pack.style)
    if cls is None:
        where = str(pack.path / "manifest.json") if pack.path is not None else f"avatar pack {pack.name!r}"
        raise AvatarError(
            f"{where}: style = {pack.style!r} has no renderer; choose one of: {', '.join(STYLE_REGISTRY)}",
            code="avatar-manifest-invalid",
            hint="fix the style in the manifest, or copy one from avatar/packs/presenter/manifest.json",
        )
    return cls


def create_style(pack: AvatarPack, width: int, height: int) -> AvatarStyle:
    """The renderer of ``pack``'s style at ``width`` x ``height`` output pixels."""
    cls = style_class(pack)
    _LOGGER.debug("avatar %s: style %s (%s) at %dx%d", pack.name, pack.style, cls.__name__, width, height)
    return cls(pack, width, height)
