"""faster_whisper.tokenizer: Tokenizer, over the engine's own tokenizer (vocabulary and BPE).

    from amanuensis.tokenizer import Tokenizer
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
                          language="en")

The first argument is the engine's tokenizer (WhisperModel.hf_tokenizer, or
amanuensis.tokenizer.load(model_dir)), where faster-whisper takes a tokenizers.Tokenizer.
"""
import string
from functools import cached_property
from typing import List, Optional, Tuple

from . import _amanuensis
from .utils import LANGUAGE_CODES

_TASKS = ("transcribe", "translate")
_LANGUAGE_CODES = LANGUAGE_CODES
# Languages written without spaces: words are split where the tokens decode to whole characters.
_NO_SPACES = {"zh", "ja", "th", "lo", "my", "yue"}


def load(model_dir: str):
    """The engine's tokenizer of a model folder (vocabulary and tokenizer.json)."""
    return _amanuensis.Tokenizer.load(str(model_dir))


class Tokenizer:
    """faster-whisper's Tokenizer: special tokens, encode/decode and word splitting."""

    def __init__(self, tokenizer, multilingual: bool, task: Optional[str] = None,
                 language: Optional[str] = None):
        self.tokenizer = tokenizer
        if multilingual:
            if task not in _TASKS:
                raise ValueError("'%s' is not a valid task (accepted tasks: %s)"
                                 % (task, ", ".join(_TASKS)))
            if language not in _LANGUAGE_CODES:
                raise ValueError("'%s' is not a valid language code (accepted language codes: %s)"
                                 % (language, ", ".join(_LANGUAGE_CODES)))
            special = tokenizer.special()
            self.task = special["transcribe" if task == "transcribe" else "translate"]
            self.language = tokenizer.language_token(language)
            self.language_code = language
        else:
            self.task = None
            self.language = None
            self.language_code = "en"

    @cached_property
    def _special(self) -> dict:
        return self.tokenizer.special()

    @cached_property
    def transcribe(self) -> int:
        return self._special["transcribe"]

    @cached_property
    def translate(self) -> int:
        return self._special["translate"]

    @cached_property
    def sot(self) -> int:
        return self._special["start_of_transcript"]

    @cached_property
    def sot_lm(self) -> int:
        return self._special["start_of_lm"]

    @cached_property
    def sot_prev(self) -> int:
        return self._special["start_of_prev"]

    @cached_property
    def eot(self) -> int:
        return self._special["end_of_text"]

    @cached_property
    def no_timestamps(self) -> int:
        return self._special["no_timestamps"]

    @cached_property
    def no_speech(self) -> int:
        return self._special["no_speech"]

    @property
    def timestamp_begin(self) -> int:
        return self.no_timestamps + 1

    @property
    def sot_sequence(self) -> List[int]:
        return [t for t in (self.sot, self.language, self.task) if t is not None]

    def encode(self, text: str) -> List[int]:
        return self.tokenizer.encode(text)

    def decode(self, tokens: List[int]) -> str:
        return self.tokenizer.decode([t for t in tokens if t < self.eot])

    def decode_with_timestamps(self, tokens: List[int]) -> str:
        """Text with each timestamp token written as <|1.08|>."""
        pieces, run = [], []
        for token in tokens:
            if token >= self.timestamp_begin:
                pieces.append(self.tokenizer.decode(run))
                pieces.append(f"<|{(token - self.timestamp_begin) * 0.02:.2f}|>")
                run = []
            else:
                run.append(token)
        pieces.append(self.tokenizer.decode(run))
        return "".join(pieces)

    @cached_property
    def non_speech_tokens(self) -> Tuple[int]:
        """Tokens that start speaker tags, music notes or bracketed annotations (Whisper's list),
        keeping plain punctuation."""
        symbols = list('"#()*+/:;<=>@[\\]^_`{|}~「」『』')
        symbols += "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split()
        notes = set("♩♪♫♬♭♮♯")  # U+2640..U+267F: the first token of each is safe to suppress
        result = {self.encode(" -")[0], self.encode(" '")[0]}
        for symbol in symbols + sorted(notes):
            for tokens in (self.encode(symbol), self.encode(" " + symbol)):
                if len(tokens) == 1 or symbol in notes:
                    result.add(tokens[0])
        return tuple(sorted(result))

    def split_to_word_tokens(self, tokens: List[int]) -> Tuple[List[str], List[List[int]]]:
        if self.language_code in _NO_SPACES:
            return self.split_tokens_on_unicode(tokens)
        return self.split_tokens_on_spaces(tokens)

    def split_tokens_on_unicode(self, tokens: List[int]) -> Tuple[List[str], List[List[int]]]:
        """Pieces that end where the tokens so far decode to whole characters."""
        full = self.decode_with_timestamps(tokens)
        words, word_tokens, current, offset = [], [], [], 0
        for token in tokens:
            current.append(token)
            decoded = self.decode_with_timestamps(current)
            bad = decoded.find("\ufffd")
            # A replacement character is fine only where the whole text has one too.
            if bad < 0 or (offset + bad < len(full) and full[offset + bad] == "\ufffd"):
                words.append(decoded)
                word_tokens.append(current)
                current = []
                offset += len(decoded)
        return words, word_tokens

    def split_tokens_on_spaces(self, tokens: List[int]) -> Tuple[List[str], List[List[int]]]:
        """Words start at a space, a punctuation mark or a special token."""
        words, word_tokens = [], []
        for piece, piece_tokens in zip(*self.split_tokens_on_unicode(tokens)):
            starts_word = (piece_tokens[0] >= self.eot or piece.startswith(" ")
                           or piece.strip() in string.punctuation or not words)
            if starts_word:
                words.append(piece)
                word_tokens.append(piece_tokens)
            else:
                words[-1] += piece
                word_tokens[-1].extend(piece_tokens)
        return words, word_tokens
