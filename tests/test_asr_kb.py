"""Knowledge-base bias of pocketsphinx: the trigram model, the n-best re-ranking, and the engine on piper audio."""

from __future__ import annotations

import numpy as np
import pytest

from speech.asr.kb_lm import KbRescorer, KbTrigrams

CORPUS = [
    "where can i exchange foreign currency",
    "can i change money here",
    "where is the cash machine",
]


def test_knowledge_base_trigrams_are_a_distribution() -> None:
    sentences = [line.split() for line in CORPUS]
    seen = {w for s in sentences for w in s} | {"</s>"}
    model = KbTrigrams(sentences, vocabulary_size=len(seen) + 100, discount=0.6)
    for history in [(), ("<s>",), ("<s>", "where"), ("can", "i"), ("never", "seen")]:
        total = sum(model.prob(w, history) for w in seen) + 100 * model.prob("zebra", history)
        assert total == pytest.approx(1.0, abs=1e-9), history
    assert model.prob("currency", ("exchange", "foreign")) > 0.5
    assert model.prob("zebra", ("exchange", "foreign")) < 0.01


@pytest.fixture(scope="module")
def generic_lm():
    from pocketsphinx import Config, Decoder, get_model_path

    model = get_model_path()
    decoder = Decoder(
        Config(
            hmm=f"{model}/en-us/en-us",
            dict=f"{model}/en-us/cmudict-en-us.dict",
            lm=f"{model}/en-us/en-us.lm.bin",
            loglevel="FATAL",
        )
    )
    return decoder, decoder.get_lm()


def test_rescorer_prefers_knowledge_base_phrasing_only_when_acoustics_are_close(generic_lm) -> None:
    _, lm = generic_lm
    rescorer = KbRescorer(CORPUS, lm.prob, weight=0.6, scale=10 / 1024, vocabulary_size=72_000)
    kb_text, other = "where can i exchange foreign currency", "where can i exchange for and currency"
    assert rescorer.bonus(kb_text) > 0 > rescorer.bonus("the weather is nice today")
    assert rescorer.best([(other, -100_000), (kb_text, -100_050)]) == kb_text
    assert rescorer.best([(other, -100_000), (kb_text, -140_000)]) == other  # acoustics far apart: no override
    assert rescorer.best([]) is None


@pytest.mark.models
def test_biased_engine_recovers_knowledge_base_wording_from_piper_speech(services) -> None:
    from devices.base import SAMPLE_RATE, resample, to_blocks
    from speech.asr.pocketsphinx import PocketsphinxAsr
    from speech.tts.piper import PiperTts

    tts = PiperTts(model_path=services.models.require("tts"), variation=0.0)  # the same audio on every run
    pad = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    audio = {}
    for text in ("I lost my card; what should I do?", "How does the queue ticket system work?"):
        chunks = list(tts.synthesize(text))
        audio[text] = np.concatenate(
            [pad, resample(np.concatenate([c.samples for c in chunks]), chunks[0].sample_rate), pad]
        )
    model_dir = services.models.require("asr-pocketsphinx")
    generic = PocketsphinxAsr(model_dir=model_dir)
    biased = PocketsphinxAsr(model_dir=model_dir)
    biased.set_vocabulary([*audio, "Where can I exchange foreign currency?", "What are your opening hours?"])
    assert generic.transcribe(audio["I lost my card; what should I do?"]) != "i lost my card what should i do"
    assert biased.transcribe(audio["I lost my card; what should I do?"]) == "i lost my card what should i do"
    assert biased.transcribe(audio["How does the queue ticket system work?"]) == "how does the queue ticket system work"
    session = biased.session()  # streaming is unchanged: partials from the generic pass, then the re-ranked final
    partials = [p for b in to_blocks(audio["I lost my card; what should I do?"]) if (p := session.accept(b))]
    assert partials and session.finish() == "i lost my card what should i do"
