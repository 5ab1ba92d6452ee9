// The extension module amanuensis._amanuensis: the C++ library (amanuensis.h) for the Python
// package in python/amanuensis, which gives it faster-whisper's classes and signatures. Work runs
// with the GIL released; waits wake every 100 ms to let Ctrl-C through.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "options.h"
#include "stream.h"

namespace nb = nanobind;

namespace amanuensis::python {
namespace {

using Samples = nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
// Log-mel features [n_mels, frames], as faster-whisper's FeatureExtractor returns them.
using Features = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using NumpySamples = nb::ndarray<nb::numpy, float, nb::ndim<1>>;
constexpr std::chrono::milliseconds kPoll(100);

NumpySamples to_numpy(Waveform samples) {
  // The capsule owns it: numpy frees it with the array.
  auto* owned = new Waveform(std::move(samples));  // NOLINT(cppcoreguidelines-owning-memory)
  nb::capsule owner(owned, [](void* p) noexcept {
    delete static_cast<Waveform*>(p);  // NOLINT(cppcoreguidelines-owning-memory)
  });
  return NumpySamples(owned->data(), {owned->size()}, owner);
}

// Waits (GIL released) until `ready` says so; a pending signal (Ctrl-C) closes the stream and
// raises it.
template <typename Wait>
void wait_interruptibly(Stream& stream, Wait wait) {
  while (true) {
    Stream::Wait result;
    {
      const nb::gil_scoped_release release;
      result = wait();
    }
    if (result == Stream::Wait::kReady) return;
    if (PyErr_CheckSignals() != 0) {
      {
        const nb::gil_scoped_release release;
        stream.close();
      }
      throw nb::python_error();
    }
  }
}

std::unique_ptr<Stream> start(const Model& model, const Samples& audio, const nb::dict& kwargs) {
  auto options = transcribe_options(kwargs);
  std::vector<float> samples(audio.data(), audio.data() + audio.shape(0));
  const nb::gil_scoped_release release;
  return std::make_unique<Stream>(model, std::move(samples), std::move(options));
}

nb::dict stream_info(Stream& stream) {
  wait_interruptibly(stream, [&] { return stream.wait_info(kPoll); });
  return info_dict(stream.info());
}

nb::object stream_next(Stream& stream) {
  wait_interruptibly(stream, [&] { return stream.wait_segment(kPoll); });
  auto segment = stream.take();
  if (!segment) return nb::none();
  return segment_dict(*segment);
}

// device_index -1: the backend's choice.
Model load(const std::string& path, const std::string& device, const std::string& compute_type,
           int threads, int device_index) {
  const nb::gil_scoped_release release;
  return Model::load(
      {.path = path,
       .threads = threads,
       .compute_type = compute_type,
       .device = device,
       .device_index = device_index >= 0 ? std::optional<int>(device_index) : std::nullopt});
}

// The module's parts: the tokenizer, the model, audio decoding, speech detection.
void bind_tokenizer(nb::module_& m) {
  nb::class_<Tokenizer>(m, "Tokenizer")
      .def_static(
          "load", [](const std::string& path) { return Tokenizer::load(path); },
          nb::arg("model_dir"))
      .def("special",
           [](const Tokenizer& t) {
             const auto s = t.special();
             nb::dict d;
             d["end_of_text"] = s.end_of_text;
             d["start_of_transcript"] = s.start_of_transcript;
             d["translate"] = s.translate;
             d["transcribe"] = s.transcribe;
             d["start_of_lm"] = s.start_of_lm;
             d["start_of_prev"] = s.start_of_prev;
             d["no_speech"] = s.no_speech;
             d["no_timestamps"] = s.no_timestamps;
             d["timestamp_begin"] = s.timestamp_begin;
             return d;
           })
      .def_prop_ro("size", &Tokenizer::size)
      .def("language_token", &Tokenizer::language_token, nb::arg("code"))
      .def("encode", &Tokenizer::encode, nb::arg("text"))
      .def(
          "decode",
          [](const Tokenizer& t, const std::vector<int>& tokens) { return t.decode(tokens); },
          nb::arg("tokens"));
}

void bind_model(nb::module_& m) {
  nb::class_<Model>(m, "Model")
      .def(nb::new_(&load), nb::arg("path"), nb::arg("device"), nb::arg("compute_type"),
           nb::arg("threads"), nb::arg("device_index") = -1)
      .def_prop_ro("multilingual", [](const Model& model) { return model.info().multilingual; })
      .def_prop_ro("is_multilingual", [](const Model& model) { return model.info().multilingual; })
      .def_prop_ro("tokenizer", &Model::tokenizer)
      .def_prop_ro("n_mels", [](const Model& model) { return model.info().n_mels; })
      .def_prop_ro("name", [](const Model& model) { return model.info().name; })
      .def_prop_ro("backend", &Model::backend_description)
      .def("suppressed_tokens", &Model::suppressed_tokens, nb::arg("suppress_tokens"))
      .def("start", &start, nb::arg("audio"), nb::arg("options"))
      .def(
          "detect_language_features",
          [](const Model& model, const Features& features, int segments, float threshold) {
            Transcription detected;
            {
              const nb::gil_scoped_release release;
              detected =
                  model.detect_language({features.data(), features.size()},
                                        static_cast<int>(features.shape(1)), segments, threshold);
            }
            return nb::make_tuple(detected.language, detected.language_probability,
                                  detected.all_language_probs);
          },
          nb::arg("features"), nb::arg("segments"), nb::arg("threshold"));
}

void bind_audio(nb::module_& m) {
  m.def(
      "decode_audio_file",
      [](const std::string& path) {
        Waveform samples;
        {
          const nb::gil_scoped_release release;
          samples = decode_audio_file(path);
        }
        return to_numpy(std::move(samples));
      },
      nb::arg("path"));
  m.def(
      "decode_audio_bytes",
      [](const nb::bytes& data) {
        const auto* bytes = static_cast<const std::uint8_t*>(data.data());
        const std::span<const std::uint8_t> span(bytes, data.size());
        Waveform samples;
        {
          const nb::gil_scoped_release release;
          samples = decode_audio_bytes(span);
        }
        return to_numpy(std::move(samples));
      },
      nb::arg("data"));
  m.def(
      "decode_audio_stereo",
      [](const nb::object& source) {
        StereoWaveform stereo;
        if (nb::isinstance<nb::bytes>(source)) {
          const auto data = nb::cast<nb::bytes>(source);
          const std::span<const std::uint8_t> span(static_cast<const std::uint8_t*>(data.data()),
                                                   data.size());
          const nb::gil_scoped_release release;
          stereo = decode_audio_bytes_stereo(span);
        } else {
          const auto path = nb::cast<std::string>(source);
          const nb::gil_scoped_release release;
          stereo = decode_audio_file_stereo(path);
        }
        return nb::make_tuple(to_numpy(std::move(stereo.left)), to_numpy(std::move(stereo.right)));
      },
      nb::arg("source"));
}

void bind_vad(nb::module_& m) {
  m.def(
      "detect_speech",
      [](const Samples& audio, const nb::dict& vad, const std::string& model) {
        const auto options = vad_options(vad);
        std::vector<SpeechSpan> spans;
        {
          const nb::gil_scoped_release release;
          spans = detect_speech({audio.data(), audio.shape(0)}, options, model);
        }
        nb::list out;
        for (const auto& s : spans) out.append(nb::make_tuple(s.start, s.end));
        return out;
      },
      nb::arg("audio"), nb::arg("vad"), nb::arg("vad_model") = "");
  m.def(
      "speech_probabilities",
      [](const Samples& audio, const std::string& model) {
        std::vector<float> probabilities;
        {
          const nb::gil_scoped_release release;
          probabilities = speech_probabilities({audio.data(), audio.shape(0)}, model);
        }
        return to_numpy(std::move(probabilities));
      },
      nb::arg("audio"), nb::arg("vad_model") = "");
}

}  // namespace
}  // namespace amanuensis::python

NB_MODULE(_amanuensis, m) {
  using namespace amanuensis;
  using namespace amanuensis::python;
  m.doc() = "Amanuensis's C++ engine (use the amanuensis package, not this module)";
  // Registers the translation of amanuensis::Error (bad input, models or options) to ValueError.
  // NOLINTNEXTLINE(bugprone-unused-raii,bugprone-throw-keyword-missing)
  nb::exception<Error>(
      m, "Error", PyExc_ValueError);  // NOLINT(bugprone-unused-raii,bugprone-throw-keyword-missing)

  nb::class_<Stream>(m, "Stream")
      .def("info", &stream_info)
      .def("next", &stream_next)
      .def("close", &Stream::close, nb::call_guard<nb::gil_scoped_release>());

  bind_tokenizer(m);
  bind_model(m);
  bind_audio(m);
  bind_vad(m);
}
