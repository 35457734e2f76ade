"""``kiosk devices`` and ``kiosk listen``: audio devices and the listening pipeline from the shell."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import click

from kiosk.context import AppContext, pass_app
from speech.events import SpeechEnded, SpeechStarted, Transcript, WakeDetected


@click.command()
@click.option("--json", "as_json", is_flag=True)
def devices(as_json: bool) -> None:
    """Audio devices PortAudio sees (choose them by name in audio.input_device / audio.output_device)."""
    from devices.sound import list_devices

    found = list_devices()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.echo("no audio devices found")
    for dev in found:
        marks = ("in " if dev["inputs"] else "   ") + ("out" if dev["outputs"] else "   ")
        default = " (default input)" if dev["default_input"] else ""
        default += " (default output)" if dev["default_output"] else ""
        click.echo(f"{dev['index']:>3} {marks} {dev['name']}{default}")
    click.echo("\nPulseAudio sources and sinks by name: pulse:NAME (see `pactl list short sources`)")


@click.command()
@click.option("--wav", "wavs", multiple=True, type=click.Path(dir_okay=False, path_type=Path), help="Feed WAV files.")
@click.option("--no-wake", is_flag=True, help="Transcribe every utterance, not only those after the wake phrase.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per file.")
@pass_app
def listen(app: AppContext, wavs: tuple[Path, ...], no_wake: bool, as_json: bool) -> None:
    """Listen for the wake phrase and questions: on WAV files (fast), or live on the microphone."""
    services = app.services
    if wavs:
        from devices.files import WavFileSource

        for path in wavs:
            source = WavFileSource(path)  # errors (missing, not a WAV) stop here with a clear message
            listener = services.listener(require_wake=not no_wake)
            wake, utterances = [], []
            for event in listener.run(source.blocks()):
                if isinstance(event, WakeDetected):
                    wake.append({"t": event.t})
                elif isinstance(event, Transcript) and event.final:
                    utterances.append({"start": event.start, "end": event.end, "text": event.text})
            if as_json:
                click.echo(json.dumps({"file": str(path), "wake": wake, "utterances": utterances}))
            else:
                click.echo(f"{path}: wake at {[w['t'] for w in wake]}")
                for u in utterances:
                    click.echo(f"  {u['start']:6.2f}-{u['end']:6.2f}  {u['text']}")
        return

    from devices.sound import Microphone

    mic = Microphone(
        device=app.settings.audio.input_device,
        reconnect_max_s=app.settings.audio.reconnect_max_s,
        on_state=lambda s: click.echo(f"[{s.name}: {s.state}] {s.detail}", err=True),
    )
    signal.signal(signal.SIGTERM, lambda *_: mic.close())
    listener = services.listener(require_wake=not no_wake)
    phrase = app.settings.wake.phrase
    click.echo(f"listening{'' if no_wake else f' for {phrase!r}'}; Ctrl+C to stop", err=True)
    try:
        for event in listener.run(mic.blocks()):
            if isinstance(event, WakeDetected):
                out = {"event": "wake", "t": event.t}
            elif isinstance(event, SpeechStarted):
                out = {"event": "speech_started", "t": event.t}
            elif isinstance(event, SpeechEnded):
                out = {"event": "speech_ended", "t": event.t}
            elif isinstance(event, Transcript) and not event.final:
                out = {"event": "partial", "text": event.text}
            elif isinstance(event, Transcript):
                out = {"event": "transcript", "text": event.text, "start": event.start, "end": event.end}
            else:
                continue
            click.echo(json.dumps(out) if as_json else " ".join(f"{k}={v}" for k, v in out.items()))
    except KeyboardInterrupt:
        pass
    finally:
        mic.close()


@click.command()
@click.option(
    "--wav",
    "wavs",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Visitor audio.",
)
@click.option("--kb", "kb_name", default=None, help="Knowledge base (default: dialog.knowledge_base).")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per file.")
@click.option("--frames", type=click.Path(file_okay=False, path_type=Path), help="Write avatar frames per file here.")
@click.option("--frame-size", default="360x640", show_default=True, help="WIDTHxHEIGHT of the frames.")
@click.option("--cold", is_flag=True, help="Do not synthesize the answers' openings ahead (measures a cold cache).")
@click.option(
    "--realtime", is_flag=True, help="Feed the audio at the microphone's pace (latencies as a visitor meets them)."
)
@pass_app
def simulate(
    app: AppContext,
    wavs: tuple[Path, ...],
    kb_name: str | None,
    as_json: bool,
    frames: Path | None,
    frame_size: str,
    cold: bool,
    realtime: bool,
) -> None:
    """The whole visitor turn on WAV files: wake/VAD → ASR → answer → TTS → avatar frames, headless."""
    from kiosk.avatar_cli import parse_size
    from runtime.simulate import Simulator

    size = parse_size(frame_size)
    simulator = Simulator(app.services, kb=kb_name, warm=not cold, realtime=realtime)
    for path in wavs:
        turn = simulator.run(path, frames_dir=frames, frame_size=size)
        if as_json:
            click.echo(json.dumps(turn.to_dict()))
            continue
        how = "tap" if turn.tap else f"wake at {turn.wake[0]:.2f} s"
        click.echo(f"{path} ({how})\n  visitor: {turn.transcript or '(nothing understood)'}")
        click.echo(f"  kiosk [{turn.mode or '-'}]: {turn.answer}")
        first = turn.timings_ms.get("first_audio_after_speech_end")
        if first is not None:
            click.echo(f"  first audio {first:.0f} ms after the visitor stopped speaking")
