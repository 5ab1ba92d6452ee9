"""faster_whisper.audio: decode_audio and pad_or_trim, decoding through the engine's FFmpeg."""
import os
from typing import BinaryIO, Union

import numpy as np

from . import _amanuensis


def decode_audio(
    input_file: Union[str, "os.PathLike[str]", BinaryIO],
    sampling_rate: int = 16000,
    split_stereo: bool = False,
):
    """Decodes a file (a path or a binary file object) to mono float32 samples at 16 kHz; with
    split_stereo, to its (left, right) channels, mono input giving the same in both."""
    if sampling_rate != 16000:
        raise ValueError("amanuensis decodes to 16000 Hz only (Whisper's rate)")
    if isinstance(input_file, (str, os.PathLike)):
        source = os.fspath(input_file)
        if split_stereo:
            return _amanuensis.decode_audio_stereo(source)
        return _amanuensis.decode_audio_file(source)
    data = input_file.read()
    if not isinstance(data, bytes):
        raise TypeError("decode_audio: the file object must be opened in binary mode")
    if split_stereo:
        return _amanuensis.decode_audio_stereo(data)
    return _amanuensis.decode_audio_bytes(data)


def pad_or_trim(array, length: int = 3000, *, axis: int = -1):
    """Pads or trims the array along `axis` to `length` (faster-whisper's helper for features)."""
    if array.shape[axis] > length:
        return array.take(indices=range(length), axis=axis)
    if array.shape[axis] < length:
        pad_widths = [(0, 0)] * array.ndim
        pad_widths[axis] = (0, length - array.shape[axis])
        return np.pad(array, pad_widths)
    return array
