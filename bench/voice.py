"""Speech recognition and wake phrase, measured on spoken kiosk questions.

    .venv/bin/python bench/voice.py [--per-kb N] [--minutes-negative M] [--split report|tune] [--no-wake]

Audio is made here: the demo knowledge bases' held-out questions
(bench/data/*_eval.csv) spoken by the packaged piper voice at three speeds, by
espeak-ng voices, and mixed with noise at 10 dB SNR: hall babble (six voices
talking over each other) plus broadband noise, and, harder, one other person
talking plus broadband noise. Reports word error rate
per condition for each engine (moonshine; pocketsphinx with the generic and
with the knowledge-base language model), how often the spoken question still gets the
right answer, the final transcript's latency after the last audio block, and
the wake phrase's detection rate and false wakes (near-miss phrases, and M
minutes of ordinary questions without the phrase; --no-wake skips them).
The reported questions are the first N labelled ones of each file; --split
tune takes labelled questions 41 to 40 + N instead, for tuning the recognizer
without looking at the reported ones. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from core.home import KioskHome  # noqa: E402
from core.settings import load_settings  # noqa: E402
from devices.base import SAMPLE_RATE, resample, to_blocks  # noqa: E402
from devices.wav import read_wav  # noqa: E402
from speech.asr.base import normalize_phrase  # noqa: E402

DATA = ROOT / "bench" / "data"
ESPEAK_VOICES = ["en-us", "en-us+f3", "en+m3", "en-gb+f2"]
NEAR_MISSES = [
    "Hey kids, come over here.", "The kiosk over there is broken.", "Okay, kiosk please help.",
    "They ask us about the kiosk.", "Hey, can I ask you something?", "Is there a kiosk near the exit?",
    "Hey, Kia, look at this.", "I used the kiosk yesterday.", "Hey you, over there!", "What's this kiosk for?",
    "Hey, kiss me.", "The kiosk is a bit slow.", "Hey Siri, what time is it?", "Hey there, kiosk fans.",
]  # fmt: skip


_CONTRACTIONS = [
    (r"\bcan't\b", "can not"), (r"\bwon't\b", "will not"), (r"n't\b", " not"), (r"'re\b", " are"),
    (r"'ve\b", " have"), (r"'m\b", " am"), (r"'ll\b", " will"), (r"'d\b", " would"),
    (r"\blet's\b", "let us"), (r"\b(it|that|there|here|what|where|who|how|he|she)'s\b", r"\1 is"),
]  # fmt: skip


_ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
]  # fmt: skip
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
            "nine": "ninth", "twelve": "twelfth"}  # fmt: skip
_BRITISH = {"centre": "center", "theatre": "theater", "colour": "color", "favourite": "favorite",
            "organise": "organize", "cheque": "check", "travellers": "travelers", "metre": "meter"}  # fmt: skip


def number_words(n: int) -> str:
    """'26' → 'twenty six', '4000' → 'four thousand' (0 to 9,999)."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    return number_words(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + number_words(n % 1000))


def _number(match: re.Match) -> str:
    digits, suffix = match.group(1), match.group(2)
    if len(digits) > 4:
        return digits
    words = number_words(int(digits))
    if suffix:
        *head, last = words.split()
        stem = last[:-1] + "ie" if last.endswith("y") else last
        last = _ORDINAL.get(last, stem + "th")
        words = " ".join([*head, last])
    return f" {words} "


def wer_words(text: str) -> str:
    """Words for scoring, the same way for reference and transcript: lower case, contractions expanded,
    "U.S." → "us", "4,000" and "26th" in words, British spellings American, hyphens as spaces."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"\b([a-z])\.(?=[a-z]\.)", r"\1", text)  # u.s. → us.
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = re.sub(r"(\d+)(st|nd|rd|th)?\b", _number, text)
    for pattern, replacement in _CONTRACTIONS:
        text = re.sub(pattern, replacement, text)
    return " ".join(_BRITISH.get(w, w) for w in normalize_phrase(text).split())


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    r, h = ref.split(), hyp.split()
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(h)], len(r)


ENGINES = ("moonshine", "pocketsphinx", "pocketsphinx_kb")
HALL_TALKERS = 6  # voices talking over each other in the hall noise
TUNE_START = 40  # labelled questions from here on are the tune split; the report takes the first ones


def questions(per_kb: int, split: str = "report") -> list[tuple[str, str, str]]:
    if split == "report" and per_kb > TUNE_START:
        raise SystemExit(f"--per-kb above {TUNE_START} would report on tune questions")
    start = 0 if split == "report" else TUNE_START
    out = []
    for kb in ("bank", "metro", "museum"):
        with (DATA / f"{kb}_eval.csv").open(encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if r["expected_id"]]
        out += [(kb, r["text"], r["expected_id"]) for r in rows[start : start + per_kb]]
    return out


def espeak(text: str, voice: str, tmp: Path) -> np.ndarray:
    path = tmp / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(path), text], check=True, capture_output=True)
    samples, rate = read_wav(path)
    return resample(samples, rate)


def hall_babble(speech: np.ndarray, talkers: int, rng: np.random.Generator) -> np.ndarray:
    """A hall full of people: ``talkers`` copies of ``speech`` at random offsets, talking over each other."""
    out = np.zeros_like(speech)
    for _ in range(talkers):
        out += np.roll(speech, int(rng.integers(0, len(speech))))
    return (out / np.sqrt(talkers)).astype(np.float32)


def with_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator, babble: np.ndarray) -> np.ndarray:
    """Hall noise: other voices (babble) plus broadband noise, scaled to the SNR."""
    start = int(rng.integers(0, max(1, len(babble) - len(samples))))
    noise = babble[start : start + len(samples)] + rng.normal(0, 0.3, len(samples)).astype(np.float32) * np.std(babble)
    if len(noise) < len(samples):
        noise = np.pad(noise, (0, len(samples) - len(noise)))
    p_signal = float(np.mean(samples**2)) + 1e-12
    p_noise = float(np.mean(noise**2)) + 1e-12
    return (samples + noise * np.sqrt(p_signal / (p_noise * 10 ** (snr_db / 10)))).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-kb", type=int, default=20, help="questions per demo knowledge base")
    parser.add_argument("--minutes-negative", type=float, default=10.0, help="minutes of non-wake speech")
    parser.add_argument("--split", choices=("report", "tune"), default="report", help="which questions")
    parser.add_argument("--no-wake", action="store_true", help="measure speech recognition only")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, from {', '.join(ENGINES)}")
    args = parser.parse_args()
    from runtime.services import KioskServices
    from speech.asr.moonshine import MoonshineAsr
    from speech.asr.pocketsphinx import PocketsphinxAsr
    from speech.train_wake import phrase_end_s
    from speech.tts.piper import PiperTts

    rng = np.random.default_rng(42)
    report: dict[str, object] = {"bench": "voice", "machine": f"{os.cpu_count()} cores", "split": args.split}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        home = KioskHome(tmp / "home").ensure()
        services = KioskServices(settings=load_settings(None, env={}), home=home)
        voice_path = services.models.require("tts")
        model_dir = services.models.require("asr-pocketsphinx")
        items = questions(args.per_kb, args.split)

        def piper(speed: float) -> list[np.ndarray]:
            tts = PiperTts(model_path=voice_path, speed=speed)
            chunks = [tts.synthesize_sentence(t) for _, t, _ in items]
            return [resample(c.samples, c.sample_rate) for c in chunks]

        conditions: dict[str, list[np.ndarray]] = {
            "piper_1.0": piper(1.0),
            "piper_0.8": piper(0.8),
            "piper_1.25": piper(1.25),
        }
        conditions["espeak"] = [
            espeak(t, ESPEAK_VOICES[i % len(ESPEAK_VOICES)], tmp) for i, (_, t, _) in enumerate(items)
        ]
        babble = np.concatenate(conditions["piper_1.25"][::-1])  # one other person talking
        hall = hall_babble(babble, HALL_TALKERS, rng)
        conditions["piper_10dB"] = [with_noise(a, 10.0, rng, hall) for a in conditions["piper_1.0"]]
        conditions["piper_10dB_one_talker"] = [with_noise(a, 10.0, rng, babble) for a in conditions["piper_1.0"]]

        labels = [e for e in args.engines.split(",") if e]
        if unknown := set(labels) - set(ENGINES):
            raise SystemExit(f"unknown engines {sorted(unknown)}; choose from {', '.join(ENGINES)}")
        kbs = ("bank", "metro", "museum")
        engines: dict[str, dict[str, object]] = {}  # label -> kb -> engine
        if "moonshine" in labels:
            moonshine = MoonshineAsr(model_dir=services.models.require("asr-moonshine"))
            engines["moonshine"] = dict.fromkeys(kbs, moonshine)
        if "pocketsphinx" in labels:
            engines["pocketsphinx"] = dict.fromkeys(kbs, PocketsphinxAsr(model_dir=model_dir))
        for kb in kbs:
            services.kb_name(kb)
            if "pocketsphinx_kb" in labels:
                engine = PocketsphinxAsr(model_dir=model_dir)
                phrases = [text for _, _, text in services.store.phrasings(kb)]
                engine.set_vocabulary(phrases + [e.answer for e in services.store.list(kb)])
                engines.setdefault("pocketsphinx_kb", {})[kb] = engine
        policies = {kb: services.policy(kb, with_llm=False, log_turns=False) for kb in kbs}

        asr_report = {}
        for name, audios in conditions.items():
            row = {}
            for label in labels:
                errors = words = correct = 0
                finals = []  # seconds from the last audio block to the final transcript
                started = time.perf_counter()
                for (kb, text, expected), audio in zip(items, audios, strict=True):
                    session = engines[label][kb].session()
                    for block in to_blocks(audio):
                        session.accept(block)
                    final_started = time.perf_counter()
                    hyp = session.finish()
                    finals.append(time.perf_counter() - final_started)
                    e, n = word_errors(wer_words(text), wer_words(hyp))
                    errors, words = errors + e, words + n
                    decision = policies[kb].decide(hyp)
                    correct += decision.mode in ("faq", "generated") and decision.faq_id == expected
                audio_s = sum(len(a) for a in audios) / SAMPLE_RATE
                row[label] = {
                    "wer": round(errors / words, 4),
                    "answer_accuracy": round(correct / len(items), 4),
                    "real_time_factor": round((time.perf_counter() - started) / audio_s, 3),
                    "final_ms_p50": round(float(np.percentile(finals, 50)) * 1000, 1),
                    "final_ms_p95": round(float(np.percentile(finals, 95)) * 1000, 1),
                }
            asr_report[name] = row
        report["asr"] = {"questions": len(items), "conditions": asr_report}
        if args.no_wake:
            print(json.dumps(report))
            return

        # wake phrase: positives in several voices and speeds, with and without noise
        positives, phrase_ends = [], []  # where "kiosk" ends (piper alignments), for the detection delay
        for i, (_, text, _) in enumerate(items):
            phrase = f"Hey kiosk, {text}"
            end = None
            if i % 3 == 0:
                audio = espeak(phrase, ESPEAK_VOICES[i % len(ESPEAK_VOICES)], tmp)
            else:
                tts = PiperTts(model_path=voice_path, speed=(1.0, 0.85, 1.2)[i % 3])
                chunk = tts.synthesize_sentence(phrase)
                audio = resample(chunk.samples, chunk.sample_rate)
                end = phrase_end_s(chunk.phonemes)
            phrase_ends.append(end)
            if i % 4 == 3:
                audio = with_noise(audio, 10.0, rng, babble)
            positives.append(audio)
        pad = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
        detected, delays = 0, []
        wake_started = time.perf_counter()
        for audio, end in zip(positives, phrase_ends, strict=True):
            detector = services.wake_detector()
            hits = [n for n, b in enumerate(to_blocks(np.concatenate([pad, audio, pad]))) if detector.process(b)]
            detected += bool(hits)
            if hits and end is not None:  # block n ends at (n + 1) * 32 ms; the phrase ended at pad + end
                delays.append(((hits[0] + 1) * 512 / SAMPLE_RATE - 0.5 - end) * 1000)
        wake_cpu = time.perf_counter() - wake_started
        positive_s = sum(len(a) + 2 * len(pad) for a in positives) / SAMPLE_RATE
        tts = PiperTts(model_path=voice_path)
        near = 0
        for phrase in NEAR_MISSES:
            chunk = tts.synthesize_sentence(phrase)
            detector = services.wake_detector()
            near += any(
                detector.process(b)
                for b in to_blocks(np.concatenate([pad, resample(chunk.samples, chunk.sample_rate), pad]))
            )
        stream = np.concatenate([np.concatenate([a, pad]) for audios in conditions.values() for a in audios])
        stream = stream[: int(args.minutes_negative * 60 * SAMPLE_RATE)]
        detector = services.wake_detector()
        cpu_started = time.process_time()
        false_wakes = sum(detector.process(b) for b in to_blocks(stream))
        stream_cpu = time.process_time() - cpu_started  # all threads of this process, on continuous speech
        report["wake"] = {
            "engine": type(services.wake_detector()).__name__,
            "positives": len(positives),
            "detected": round(detected / len(positives), 4),
            "near_miss_phrases": len(NEAR_MISSES),
            "near_miss_false_wakes": near,
            "negative_speech_minutes": round(len(stream) / SAMPLE_RATE / 60, 1),
            "false_wakes_in_negative_speech": int(false_wakes),
            "cpu_share_of_one_core": round(stream_cpu / (len(stream) / SAMPLE_RATE), 3),
            "wall_share_on_positives": round(wake_cpu / positive_s, 3),
            "detection_after_phrase_end_ms": {
                "n": len(delays),
                "p50": round(float(np.percentile(delays, 50)), 1) if delays else None,
                "p95": round(float(np.percentile(delays, 95)), 1) if delays else None,
            },
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
