// Each subcommand of the `amanuensis` CLI lives in its own file and registers itself here.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "jobs/job_store.h"

namespace amanuensis::cli {

inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

// Adds the subcommand's options to `app`; returns what to run if it is the one chosen. The
// action reads the parsed options, so it is only called after parsing succeeds.
using CommandAction = std::function<int()>;

CommandAction add_transcribe_command(CLI::App& app);
CommandAction add_serve_command(CLI::App& app);
CommandAction add_devices_command(CLI::App& app);
CommandAction add_worker_command(CLI::App& app);
CommandAction add_bench_command(CLI::App& app);
CommandAction add_vad_command(CLI::App& app);
CommandAction add_listen_command(CLI::App& app);
CommandAction add_convert_command(CLI::App& app);

// --model, --threads, --compute-type and --device, as `transcribe` and `bench` take them.
void add_model_options(CLI::App& command, ModelOptions& options);

// The models `serve` and `worker` offer: --model (repeatable), --models-dir, --default-model and
// --model-ttl, as service::find_models and ModelRegistry take them.
void add_model_catalog_options(CLI::App& command, std::vector<std::filesystem::path>& model_paths,
                               std::filesystem::path& models_dir, std::string& default_model,
                               double& model_ttl_seconds);

// The batch-job options `serve` and `worker` share (--max-attempts, --visibility-timeout,
// --job-ttl); the visibility timeout is read into `visibility_seconds`.
void add_job_store_options(CLI::App& command, jobs::JobStoreConfig& store, int& visibility_seconds);

}  // namespace amanuensis::cli
