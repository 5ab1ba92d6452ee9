"""faster_whisper.transcribe: WhisperModel and BatchedInferencePipeline, on the C++ engine.

Signatures, defaults and results follow faster-whisper 1.2. transcribe() settles the language and
durations at once (TranscriptionInfo) and returns a lazy generator: no window is decoded before it
is iterated, each segment comes out as soon as its window is done, and closing the generator (or
Ctrl-C) stops the work. The engine runs with the GIL released, so threads sharing one model
transcribe at the same time.
"""
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from typing import BinaryIO, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _amanuensis
from .audio import decode_audio
from .utils import LANGUAGE_CODES, resolve_model
from .vad import VadOptions, _vad_dict


@dataclass
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass
class Segment:
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: List[int]
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    words: Optional[List[Word]]
    temperature: Optional[float]
    # Beyond faster-whisper's fields: the language the segment was decoded in, with
    # multilingual=True (None otherwise).
    language: Optional[str] = None


@dataclass
class TranscriptionOptions:
    beam_size: int
    best_of: int
    patience: float
    length_penalty: float
    repetition_penalty: float
    no_repeat_ngram_size: int
    log_prob_threshold: Optional[float]
    no_speech_threshold: Optional[float]
    compression_ratio_threshold: Optional[float]
    condition_on_previous_text: bool
    prompt_reset_on_temperature: float
    temperatures: List[float]
    initial_prompt: Optional[Union[str, Iterable[int]]]
    prefix: Optional[str]
    suppress_blank: bool
    suppress_tokens: Optional[List[int]]
    without_timestamps: bool
    max_initial_timestamp: float
    word_timestamps: bool
    prepend_punctuations: str
    append_punctuations: str
    multilingual: bool
    max_new_tokens: Optional[int]
    clip_timestamps: Union[str, List[float]]
    hallucination_silence_threshold: Optional[float]
    hotwords: Optional[str]


@dataclass
class TranscriptionInfo:
    language: str
    language_probability: float
    duration: float
    duration_after_vad: float
    all_language_probs: Optional[List[Tuple[str, float]]]
    transcription_options: TranscriptionOptions
    vad_options: VadOptions


def _unsupported(name: str, why: str):
    raise NotImplementedError(f"amanuensis: {name} is not supported yet ({why})")


def _load_audio(audio) -> np.ndarray:
    if isinstance(audio, np.ndarray):
        return np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
    return decode_audio(audio)


def _temperatures(temperature) -> List[float]:
    if isinstance(temperature, (int, float)):
        return [float(temperature)]
    return [float(t) for t in temperature]


def _parse_clips(clip_timestamps) -> List[float]:
    """faster-whisper's parsing: "0" (all), "start,end,..." in seconds, or a list."""
    if isinstance(clip_timestamps, str):
        return [float(t) for t in (clip_timestamps.split(",") if clip_timestamps else [])]
    return list(clip_timestamps)


_OPTION_FIELDS = [f for f in TranscriptionOptions.__dataclass_fields__ if f != "temperatures"]


def _options_of(arguments: dict, **overrides) -> TranscriptionOptions:
    """TranscriptionOptions from transcribe()'s arguments (its locals()), with `overrides`."""
    values = {name: arguments[name] for name in _OPTION_FIELDS}
    values["temperatures"] = _temperatures(arguments["temperature"])
    values.update(overrides)
    return TranscriptionOptions(**values)


def _check_common(language, language_detection_threshold):
    if language is None and language_detection_threshold is None:
        raise ValueError("language_detection_threshold must be a number when the language is "
                         "detected")


Keywords = Optional[Union[str, Sequence[str], Mapping[str, float]]]


def _keywords(keywords: Keywords) -> Union[str, List[Tuple[str, float]]]:
    """The engine's form of transcribe()'s keywords: the "word:weight,..." text as given (the
    engine parses it), else (word, weight) pairs."""
    if keywords is None:
        return []
    if isinstance(keywords, str):
        return keywords
    if isinstance(keywords, Mapping):
        return [(str(k), float(w)) for k, w in keywords.items()]
    return [(str(k), 1.0) for k in keywords]


def _detection_options(language_detection_segments, language_detection_threshold) -> dict:
    return {"language_detection_segments": int(language_detection_segments),
            "language_detection_threshold": float(0.5 if language_detection_threshold is None
                                                  else language_detection_threshold)}


class _Run:
    """The engine's stream for one transcription, closed when the generator is."""

    def __init__(self, model, audio: np.ndarray, options: dict):
        self._stream = model.start(audio, options)
        self._words = bool(options.get("word_timestamps"))
        self.info = self._stream.info()

    def close(self):
        self._stream.close()

    def segments(self, progress_seconds: Optional[float] = None) -> Iterator[Segment]:
        """The segments; with progress_seconds, a tqdm bar of that many seconds (faster-whisper's
        log_progress) advances to each segment's end."""
        bar = None
        if progress_seconds is not None:
            from tqdm import tqdm

            bar = tqdm(total=round(progress_seconds, 2), unit="seconds")
        try:
            while True:
                item = self._stream.next()
                if item is None:
                    if bar is not None:
                        bar.update(bar.total - bar.n)
                    return
                words = [Word(*w) for w in item.pop("words")]
                segment = Segment(**item, words=words if self._words else None)
                if bar is not None:
                    bar.update(max(0.0, min(round(segment.end, 2), bar.total) - bar.n))
                yield segment
        finally:
            if bar is not None:
                bar.close()
            self._stream.close()


def _load_from_files(files: dict, device, compute_type, cpu_threads, device_index):
    """faster-whisper's files=: the model's files by name, as bytes or binary file objects. They
    are written to a private temporary folder for the loader, which is gone once loaded."""
    with tempfile.TemporaryDirectory(prefix="amanuensis-model-") as folder:
        for name, content in files.items():
            if not isinstance(name, str) or os.path.basename(name) != name or name in ("", ".", ".."):
                raise ValueError(f"files: {name!r} is not a plain file name")
            data = content if isinstance(content, (bytes, bytearray, memoryview)) else content.read()
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"files: {name} must be bytes or a binary file object")
            with open(os.path.join(folder, name), "wb") as out:
                out.write(data)
        try:
            return _amanuensis.Model(folder, device, compute_type, cpu_threads, device_index)
        except _amanuensis.Error as e:
            raise _amanuensis.Error(str(e).replace(folder, "files=")) from None


class WhisperModel:
    def __init__(
        self,
        model_size_or_path: str,
        device: str = "auto",
        device_index: Union[int, List[int]] = 0,
        compute_type: str = "default",
        cpu_threads: int = 0,
        num_workers: int = 1,
        download_root: Optional[str] = None,
        local_files_only: bool = False,
        files: dict = None,
        revision: Optional[str] = None,
        use_auth_token: Optional[Union[str, bool]] = None,
        **model_kwargs,
    ):
        """Loads a Whisper model (a CTranslate2 or Hugging Face folder, a ggml file), or a model
        name found on this machine (see utils.resolve_model: nothing is downloaded, so
        local_files_only changes nothing). device_index picks a device of `device` (an int, or
        a list of one)."""
        if isinstance(device_index, (list, tuple)):
            if len(device_index) != 1:
                _unsupported(f"device_index={device_index}",
                             "one device per model (faster-whisper's replicas on several devices)")
            device_index = device_index[0]
        if not isinstance(device_index, int) or device_index < 0:
            raise ValueError(f"device_index must be an int of 0 or more, not {device_index!r}")
        if num_workers < 1:
            raise ValueError("num_workers must be at least 1")
        if model_kwargs:
            raise TypeError(f"unknown WhisperModel arguments: {', '.join(model_kwargs)}")
        # num_workers: any number of threads may transcribe with one model at once.
        if files is not None:
            # As faster-whisper: the files are the model, model_size_or_path only names it.
            self.model_path = model_size_or_path
            self.model = _load_from_files(files, device, compute_type, cpu_threads, device_index)
        else:
            if revision is not None and not os.path.isdir(model_size_or_path):
                # faster-whisper would download that revision; a model found here has none.
                raise ValueError(f"revision={revision!r}: amanuensis downloads nothing, so it can "
                                 "load a given revision only from a folder path")
            # use_auth_token only authorises downloads (and faster-whisper ignores it for a
            # folder too); nothing is downloaded here.
            self.model_path = resolve_model(model_size_or_path, download_root)
            self.model = _amanuensis.Model(self.model_path, device, compute_type, cpu_threads,
                                           device_index)
        # What faster-whisper's Tokenizer(model.hf_tokenizer, ...) takes: here the engine's own.
        self.hf_tokenizer = self.model.tokenizer

    @property
    def supported_languages(self) -> List[str]:
        """The languages supported by the model."""
        return list(LANGUAGE_CODES) if self.model.multilingual else ["en"]

    def transcribe(
        self,
        audio: Union[str, BinaryIO, np.ndarray],
        language: Optional[str] = None,
        task: str = "transcribe",
        log_progress: bool = False,
        beam_size: int = 5,
        best_of: int = 5,
        patience: float = 1,
        length_penalty: float = 1,
        repetition_penalty: float = 1,
        no_repeat_ngram_size: int = 0,
        temperature: Union[float, List[float], Tuple[float, ...]] = [
            0.0,
            0.2,
            0.4,
            0.6,
            0.8,
            1.0,
        ],
        compression_ratio_threshold: Optional[float] = 2.4,
        log_prob_threshold: Optional[float] = -1.0,
        no_speech_threshold: Optional[float] = 0.6,
        condition_on_previous_text: bool = True,
        prompt_reset_on_temperature: float = 0.5,
        initial_prompt: Optional[Union[str, Iterable[int]]] = None,
        prefix: Optional[str] = None,
        suppress_blank: bool = True,
        suppress_tokens: Optional[List[int]] = [-1],
        without_timestamps: bool = False,
        max_initial_timestamp: float = 1.0,
        word_timestamps: bool = False,
        prepend_punctuations: str = "\"'“¿([{-",
        append_punctuations: str = "\"'.。,，!！?？:：”)]}、",
        multilingual: bool = False,
        vad_filter: bool = False,
        vad_parameters: Optional[Union[dict, VadOptions]] = None,
        max_new_tokens: Optional[int] = None,
        chunk_length: Optional[int] = None,
        clip_timestamps: Union[str, List[float]] = "0",
        hallucination_silence_threshold: Optional[float] = None,
        hotwords: Optional[str] = None,
        language_detection_threshold: Optional[float] = 0.5,
        language_detection_segments: int = 1,
        *,
        keywords: Keywords = None,
    ) -> Tuple[Iterable[Segment], TranscriptionInfo]:
        """Transcribes a path, a binary file object or 16 kHz float32 samples.

        keywords (ours; faster-whisper has none): words and phrases to favour inside the search,
        as "Gutenberg:2,Caxton", a list of words, or a dict of word to weight."""
        _check_common(language, language_detection_threshold)
        multilingual = self._multilingual(multilingual)
        options = _options_of(locals(), clip_timestamps=_parse_clips(clip_timestamps))
        if vad_filter:
            vad_options = VadOptions(**_vad_dict(vad_parameters))
        else:
            vad_options = vad_parameters if isinstance(vad_parameters, VadOptions) else None
        engine = self._engine_options(options, language, task)
        engine.update(
            clip_timestamps=[] if options.clip_timestamps == [0.0] else
            [float(t) for t in options.clip_timestamps],
            vad_filter=bool(vad_filter),
            vad_parameters=asdict(vad_options) if vad_filter else None, batch_size=0,
            chunk_length=chunk_length,
            **_detection_options(language_detection_segments, language_detection_threshold),
            keywords=_keywords(keywords),
        )
        return self._run(audio, engine, options, vad_options, language, log_progress)

    def _multilingual(self, multilingual: bool) -> bool:
        if multilingual and not self.model.multilingual:
            # As faster-whisper: a warning, and one language for the whole audio.
            logging.getLogger("amanuensis").warning(
                "The current model is English-only but the multilingual parameter is set to "
                "True; setting to False instead.")
            return False
        return bool(multilingual)

    def _engine_options(self, options: TranscriptionOptions, language, task) -> dict:
        engine = {k: v for k, v in asdict(options).items()
                  if k != "clip_timestamps"}
        engine.update(language=language, task=task)
        return engine

    def _run(self, audio, engine: dict, options, vad_options, language, log_progress=False):
        # The engine takes suppress_tokens as given (-1: non-speech); info reports them as
        # faster-whisper does, resolved and with the special tokens.
        options.suppress_tokens = tuple(self.model.suppressed_tokens(list(engine["suppress_tokens"] or [])))
        samples = _load_audio(audio)
        duration = samples.shape[0] / 16000
        if samples.shape[0] == 0:
            # faster-whisper gives no segments for empty audio; the engine refuses it.
            language = language or ("en" if not self.model.multilingual else None)
            info = TranscriptionInfo(language, 1.0, 0.0, 0.0, None, options, vad_options)
            return iter(()), info
        run = _Run(self.model, samples, engine)
        i = run.info
        info = TranscriptionInfo(
            language=i["language"],
            language_probability=i["language_probability"],
            duration=duration,
            duration_after_vad=i["duration_after_vad"],
            all_language_probs=[tuple(p) for p in i["all_language_probs"]] or None,
            transcription_options=options,
            vad_options=vad_options,
        )
        return run.segments(duration if log_progress else None), info

    def detect_language(
        self,
        audio: Optional[np.ndarray] = None,
        features: Optional[np.ndarray] = None,
        vad_filter: bool = False,
        vad_parameters: Union[dict, VadOptions] = None,
        language_detection_segments: int = 1,
        language_detection_threshold: float = 0.5,
    ) -> Tuple[str, float, List[Tuple[str, float]]]:
        """The language of the first 30 seconds (of speech, with vad_filter): (code,
        probability, every language's probability, likeliest first)."""
        if audio is None and features is None:
            raise ValueError("detect_language needs audio or features")
        if audio is None:
            # faster-whisper's log-mel features [n_mels, frames] (a batch of one too).
            features = np.ascontiguousarray(np.asarray(features, dtype=np.float32))
            if features.ndim == 3 and features.shape[0] == 1:
                features = features[0]
            language, probability, probs = self.model.detect_language_features(
                features, int(language_detection_segments), float(language_detection_threshold))
            return language, probability, [tuple(p) for p in probs]
        if not self.model.multilingual:
            return "en", 1.0, [("en", 1.0)]
        engine = {"vad_filter": bool(vad_filter),
                  "vad_parameters": _vad_dict(vad_parameters) if vad_filter else None,
                  **_detection_options(language_detection_segments, language_detection_threshold)}
        run = _Run(self.model, _load_audio(audio), engine)
        run.close()
        probs = [tuple(p) for p in run.info["all_language_probs"]]
        return run.info["language"], run.info["language_probability"], probs


class BatchedInferencePipeline:
    """faster-whisper's batched pipeline: speech chunks of up to 30 s decoded batch_size at a
    time, each on its own (no previous text, the first temperature only)."""

    def __init__(self, model: WhisperModel):
        self.model = model

    def transcribe(
        self,
        audio: Union[str, BinaryIO, np.ndarray],
        language: Optional[str] = None,
        task: str = "transcribe",
        log_progress: bool = False,
        beam_size: int = 5,
        best_of: int = 5,
        patience: float = 1,
        length_penalty: float = 1,
        repetition_penalty: float = 1,
        no_repeat_ngram_size: int = 0,
        temperature: Union[float, List[float], Tuple[float, ...]] = [
            0.0,
            0.2,
            0.4,
            0.6,
            0.8,
            1.0,
        ],
        compression_ratio_threshold: Optional[float] = 2.4,
        log_prob_threshold: Optional[float] = -1.0,
        no_speech_threshold: Optional[float] = 0.6,
        condition_on_previous_text: bool = True,
        prompt_reset_on_temperature: float = 0.5,
        initial_prompt: Optional[Union[str, Iterable[int]]] = None,
        prefix: Optional[str] = None,
        suppress_blank: bool = True,
        suppress_tokens: Optional[List[int]] = [-1],
        without_timestamps: bool = True,
        max_initial_timestamp: float = 1.0,
        word_timestamps: bool = False,
        prepend_punctuations: str = "\"'“¿([{-",
        append_punctuations: str = "\"'.。,，!！?？:：”)]}、",
        multilingual: bool = False,
        vad_filter: bool = True,
        vad_parameters: Optional[Union[dict, VadOptions]] = None,
        max_new_tokens: Optional[int] = None,
        chunk_length: Optional[int] = None,
        clip_timestamps: Optional[List[dict]] = None,
        hallucination_silence_threshold: Optional[float] = None,
        batch_size: int = 8,
        hotwords: Optional[str] = None,
        language_detection_threshold: Optional[float] = 0.5,
        language_detection_segments: int = 1,
        *,
        keywords: Keywords = None,
    ) -> Tuple[Iterable[Segment], TranscriptionInfo]:
        """Transcribes in batches; the arguments are WhisperModel.transcribe's plus batch_size."""
        _check_common(language, language_detection_threshold)
        multilingual = self.model._multilingual(multilingual)
        if initial_prompt is not None and not isinstance(initial_prompt, str):
            raise TypeError("the batched pipeline takes initial_prompt as text only (as "
                            "faster-whisper's, which encodes it)")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        options = _options_of(
            locals(),
            # As faster-whisper's pipeline reports (and decodes) them, whatever was passed:
            condition_on_previous_text=False, prompt_reset_on_temperature=0.5,
            temperatures=_temperatures(temperature)[:1], max_initial_timestamp=0.0,
            clip_timestamps=clip_timestamps or "0", hallucination_silence_threshold=None,
        )
        if hallucination_silence_threshold is not None:
            raise ValueError("hallucination_silence_threshold cannot be used with the batched "
                             "pipeline (it needs the previous text)")
        clips = []
        for clip in clip_timestamps or []:
            clips += [float(clip["start"]), float(clip["end"])]
        longest = chunk_length or 30  # faster-whisper's: the longest speech chunk
        if clips:
            vad_options = None
        elif vad_parameters is None:
            vad_options = VadOptions(max_speech_duration_s=longest, min_silence_duration_ms=160)
        else:
            vad_options = replace(VadOptions(**_vad_dict(vad_parameters)),
                                  max_speech_duration_s=longest)
        engine = self.model._engine_options(options, language, task)
        engine.update(
            temperatures=_temperatures(temperature), condition_on_previous_text=condition_on_previous_text,
            clip_timestamps=clips, vad_filter=bool(vad_filter) if not clips else False,
            vad_parameters=asdict(vad_options) if vad_options else None, batch_size=batch_size,
            chunk_length=chunk_length,
            **_detection_options(language_detection_segments, language_detection_threshold),
            keywords=_keywords(keywords),
        )
        return self.model._run(audio, engine, options, vad_options, language, log_progress)
