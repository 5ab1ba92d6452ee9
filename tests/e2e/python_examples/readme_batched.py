# faster-whisper's README, "Batched Transcription": only the import, the model size, the device
# and the file name (argv[1]) differ.
import sys

from amanuensis import WhisperModel, BatchedInferencePipeline

model = WhisperModel("base", device="cpu", compute_type="int8")
batched_model = BatchedInferencePipeline(model=model)
segments, info = batched_model.transcribe(sys.argv[1], batch_size=16)

for segment in segments:
    print("[%.2fs -> %.2fs] %s" % (segment.start, segment.end, segment.text))
