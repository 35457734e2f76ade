"""Photoreal avatar packs from one photo or a short video (``kiosk avatar create``).

- ``landmarks``: MediaPipe's face detector, face mesh and eyelid model (TFLite, run by ai-edge-litert);
- ``checks``: the file and the face: one coded refusal per kind of bad material;
- ``layout``: the person cut out and laid out on the portrait and landscape canvases;
- ``warp``: the per-parameter warp fields (piecewise-affine over the mesh; head and breathing fields);
- ``mouth``, ``eyes``: what the warp cannot give: the inside of the mouth, a closing lid;
- ``video``: the best still and the person's own mouth textures from a clip, a few per viseme class;
- ``visemes``: mouth shapes measured by their landmarks, their classes, the blend of the nearest real mouths;
- ``create``: the steps, written to a temporary folder and moved into place.

The renderer is :mod:`avatar.render.photoreal` (style ``photo``). No Qt here.
"""
