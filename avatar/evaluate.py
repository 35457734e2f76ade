"""Evaluate the audio-to-mouth model on held-out sentences and voices: ``python -m avatar.evaluate [--json]``.

Truth comes from the voices' phoneme timings (as in training), on sentences the
training split never saw, spoken by voice variants outside the training range:
piper faster and slower, with larger pitch/formant shifts and added noise, and
espeak-ng accents and voices (one a Klatt formant voice) not used in training. Reports
per variant: viseme frame accuracy, accuracy over coarse mouth groups, closure
recall for /m b p/, mean absolute error of the mouth parameters and the jaw
correlation, next to a majority-class baseline.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from avatar.audio2mouth import AudioToMouth, _postprocess
from avatar.corpus import sentences
from avatar.dataset import UtteranceFactory, VoiceVariant
from avatar.visemes import MOUTH_PARAMS, VISEME_INDEX, VISEMES

_LOGGER = logging.getLogger(__name__)

EVAL_VARIANTS = (
    VoiceVariant("voice", speed=1.0),
    VoiceVariant("fast", speed=1.4),
    VoiceVariant("slow", speed=0.72),
    VoiceVariant("higher", speed=1.0, pitch_cents=450),
    VoiceVariant("lower", speed=1.0, pitch_cents=-400),
    VoiceVariant("noisy", speed=1.0, snr_db=12.0),
    VoiceVariant("reverb", speed=1.0, reverb_rt60=0.6),
    # espeak-ng accents and voices the training data never uses (see avatar.train.ESPEAK_TRAIN_*)
    VoiceVariant("espeak-f", espeak="en-gb-scotland+f5", espeak_pitch=60),
    VoiceVariant("espeak-m", speed=1.15, espeak="en-029+m7", espeak_pitch=40),
    VoiceVariant("espeak-klatt", speed=0.9, espeak="en-us-nyc+klatt3"),
)
GROUPS = {
    "rest": "rest",
    "AA": "open",
    "E": "open",
    "KG": "open",
    "I": "spread",
    "SZ": "spread",
    "O": "round",
    "U": "round",
    "W": "round",
    "SH": "round",
    "R": "round",
    "MBP": "closed",
    "FV": "teeth",
    "TH": "tongue",
    "LTDN": "tongue",
}
_GROUP_OF = np.array([sorted(set(GROUPS.values())).index(GROUPS[v]) for v in VISEMES])


def evaluate(model: AudioToMouth, *, n_sentences: int = 20, variants=EVAL_VARIANTS, seed: int = 1234) -> dict:
    factory = UtteranceFactory()
    texts = sentences(n_sentences, seed=seed, held_out=True)
    report: dict = {"sentences": len(texts), "variants": {}}
    infer_s, audio_s = 0.0, 0.0
    all_correct = all_total = 0
    for variant in variants:
        preds, labels, params, truths = [], [], [], []
        for i, text in enumerate(texts):
            u = factory.utterance(text, variant, seed=i)
            t0 = time.perf_counter()
            probs, values = model.predict_features(u.feats)
            infer_s += time.perf_counter() - t0
            audio_s += len(u.feats) * 0.01
            preds.append(probs.argmax(axis=1))
            labels.append(u.labels)
            params.append(_postprocess(values))
            truths.append(u.params)
        pred, lab = np.concatenate(preds), np.concatenate(labels)
        par, tru = np.concatenate(params), np.concatenate(truths)
        mbp = lab == VISEME_INDEX["MBP"]
        press = par[:, MOUTH_PARAMS.index("press")]
        jaw_p, jaw_t = par[:, MOUTH_PARAMS.index("jaw")], tru[:, MOUTH_PARAMS.index("jaw")]
        majority = np.bincount(lab, minlength=len(VISEMES)).max() / len(lab)
        report["variants"][variant.name] = {
            "frames": len(lab),
            "viseme_accuracy": round(float((pred == lab).mean()), 4),
            "group_accuracy": round(float((_GROUP_OF[pred] == _GROUP_OF[lab]).mean()), 4),
            "majority_baseline": round(float(majority), 4),
            "closure_recall": round(float((press[mbp] > 0.4).mean()) if mbp.any() else float("nan"), 4),
            "param_mae": round(float(np.abs(par - tru).mean()), 4),
            "jaw_mae": round(float(np.abs(jaw_p - jaw_t).mean()), 4),
            "jaw_correlation": round(float(np.corrcoef(jaw_p, jaw_t)[0, 1]), 4),
        }
        all_correct += int((pred == lab).sum())
        all_total += len(lab)
    report["viseme_accuracy"] = round(all_correct / max(all_total, 1), 4)
    report["param_mae"] = round(float(np.mean([v["param_mae"] for v in report["variants"].values()])), 4)
    report["jaw_correlation"] = round(float(np.mean([v["jaw_correlation"] for v in report["variants"].values()])), 4)
    report["inference_ms_per_audio_s"] = round(1000 * infer_s / max(audio_s, 1e-9), 2)
    report["model"] = model.meta
    return report


def main(argv: list[str] | None = None) -> int:
    from core.models import AVATAR_WEIGHTS

    parser = argparse.ArgumentParser(prog="python -m avatar.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=AVATAR_WEIGHTS)
    parser.add_argument("--sentences", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    model = AudioToMouth.load(args.weights)
    report = evaluate(model, n_sentences=args.sentences)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"held-out sentences: {report['sentences']}, model: {args.weights}")
    print(
        f"{'variant':<8} {'frames':>7} {'viseme':>7} {'group':>7} {'major.':>7} {'closure':>8} {'MAE':>6} {'jaw r':>6}"
    )
    for name, r in report["variants"].items():
        print(
            f"{name:<8} {r['frames']:>7} {r['viseme_accuracy']:>7.3f} {r['group_accuracy']:>7.3f} {r['majority_baseline']:>7.3f}"
            f" {r['closure_recall']:>8.3f} {r['param_mae']:>6.3f} {r['jaw_correlation']:>6.3f}"
        )
    print(
        f"overall viseme accuracy {report['viseme_accuracy']:.3f}; inference {report['inference_ms_per_audio_s']} ms per s of audio"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
