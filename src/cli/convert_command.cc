// amanuensis convert: a model from one format to another (CTranslate2, Hugging Face, ggml).
#include <chrono>
#include <iostream>

#include "amanuensis/amanuensis.h"
#include "cli/commands.h"

namespace amanuensis::cli {

CommandAction add_convert_command(CLI::App& app) {
  auto* command = app.add_subcommand(
      "convert", "Convert a Whisper model between CTranslate2, Hugging Face and ggml formats");
  auto options = std::make_shared<ConvertOptions>();
  command->add_option("--model", options->model, "Model to read: a folder or ggml file")
      ->required();
  command->add_option("--to", options->to, "Format to write")
      ->required()
      ->check(CLI::IsMember({"ct2", "hf", "ggml"}));
  command->add_option("--quantize", options->quantize,
                      "Weight type: ct2 float32|float16|bfloat16|int8, hf "
                      "float32|float16|bfloat16, ggml f32|f16|q8_0|q5_0|q5_1|q4_0|q4_1 "
                      "(default float16 / f16)");
  command->add_option("--output", options->output, "Folder (ct2, hf) or file (ggml) to write")
      ->required();
  return [options]() {
    const auto start = std::chrono::steady_clock::now();
    convert_model(*options);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    std::cerr << "amanuensis convert: " << options->model.string() << " ("
              << model_format(options->model) << ") -> " << options->output.string() << " ("
              << options->to << (options->quantize.empty() ? "" : ", " + options->quantize)
              << ") in " << took.count() << " s\n";
    return 0;
  };
}

}  // namespace amanuensis::cli
