"""The kiosk runs every engine in one process: their native libraries must load side by side.

(Two packages that each ship a different libggml cannot: the second one fails with an
undefined symbol. This test loads the engines in the kiosk's own order in a fresh process.)
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.models, pytest.mark.slow]

SCRIPT = textwrap.dedent(
    """
    import os, sys, tempfile
    from pathlib import Path
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    from core.home import KioskHome
    from core.settings import load_settings
    from runtime.services import KioskServices
    home = KioskHome(Path(tempfile.mkdtemp())).ensure()
    s = KioskServices(settings=load_settings(None, env={}), home=home)
    order = sys.argv[1].split(",")
    for part in order:
        if part == "vad":
            s.end_of_turn().process(np.zeros(512, np.float32))
        elif part == "wake":
            s.wake_detector().process(np.zeros(512, np.float32))
        elif part == "asr":
            s.asr.transcribe(np.zeros(16000, np.float32))
        elif part == "tts":
            next(iter(s.tts.synthesize("Hello.")))
        elif part == "llm":
            s.llm.warm()
        elif part == "match":
            s.policy("bank", with_llm=False, log_turns=False).decide("where is the cash machine")
        elif part == "avatar":
            from avatar.audio2mouth import AudioToMouth
            AudioToMouth.load(s.models.require("avatar"))
        elif part == "qt":
            from PyQt6.QtWidgets import QApplication
            QApplication([])
    print("loaded", ",".join(order))
    """
)


@pytest.mark.parametrize(
    "order",
    ["vad,wake,asr,tts,match,avatar,qt,llm", "llm,match,tts,vad,wake,asr,avatar,qt"],
)
def test_all_engines_load_in_one_process(order: str) -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, order], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"loaded {order}" in proc.stdout
