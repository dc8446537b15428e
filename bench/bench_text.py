"""Text CNN throughput and training speed (issue: Text page).

1. Texts per second, one at a time: `sentiment()` (tokenize, encode, CNN, evidence) against the
   bare Keras `predict_on_batch` on already-encoded ids: the price of the evidence.
2. Texts per second in batches of 500 over the tweets' test split.
3. Seconds per training epoch on all training tweets, at the committed batch size and the chapter's.
"""

from __future__ import annotations

import time

from bench.timing import median_ms, report
from engine.core import registry
from engine.data import text as text_data
from engine.text import sentiment as text
from engine.text import train as text_training

SENTENCE = "The flight was delayed three hours and the crew was rude. Never flying with them again!"


def main() -> None:
    loaded = registry.load(text.MODEL_NAME)
    classifier: text.TextClassifier = loaded.model
    ids, _ = classifier.encode(text_data.token_strings(SENTENCE))
    batch = ids[None]
    bare = "bare predict_on_batch (ids ready)"
    rows = [
        (bare, median_ms(lambda: classifier.model.predict_on_batch(batch), 100)),
        ("sentiment(): tokenize + CNN + evidence", median_ms(lambda: text.sentiment(SENTENCE, loaded), 100)),
    ]
    print(f"One text at a time ({len(SENTENCE)} characters):")
    report(rows, baseline=bare, target="ratio <= 2")
    for name, milliseconds in rows:
        print(f"  {name:<58} {1000 / milliseconds:9.0f} texts/s")

    splits = text_data.load_tweets()
    test_ids = text_data.pad(
        [classifier.vocabulary.encode(tokens) for tokens in splits.tokens["test"]], classifier.sequence_length
    )
    classifier.model.predict(test_ids[:500], batch_size=500, verbose=0)
    started = time.perf_counter()
    classifier.model.predict(test_ids, batch_size=500, verbose=0)
    seconds = time.perf_counter() - started
    print(f"\nBatches of 500: {len(test_ids) / seconds:,.0f} texts/s over the {len(test_ids):,} test tweets")

    data = text_training.prepare_tweets()
    print(f"\nOne training epoch on {len(data.arrays['train']):,} tweets (the first includes tracing):")
    for batch_size in (text_training.TWEETS_BATCH_SIZE, 500):
        run = text_training.TrainingRun(data, batch_size)
        first = run.run_epoch().seconds
        second = run.run_epoch().seconds
        print(
            f"  batch {batch_size:>3}: first epoch {first:5.1f} s, second {second:5.1f} s "
            f"({len(data.arrays['train']) / second:,.0f} tweets/s, validation included)"
        )
