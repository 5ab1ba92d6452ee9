# faster-whisper's README, "Word-level timestamps" and "VAD filter": only the import, the model and
# the file name (argv[1]) differ.
import sys

from amanuensis import WhisperModel

model = WhisperModel("base", device="cpu", compute_type="int8")

segments, _ = model.transcribe(sys.argv[1], word_timestamps=True)

for segment in segments:
    for word in segment.words:
        print("[%.2fs -> %.2fs] %s" % (word.start, word.end, word.word))

segments, _ = model.transcribe(sys.argv[1], vad_filter=True)
print("".join(segment.text for segment in segments))

segments, _ = model.transcribe(
    sys.argv[1],
    vad_filter=True,
    vad_parameters=dict(min_silence_duration_ms=500),
)
print("".join(segment.text for segment in segments))
