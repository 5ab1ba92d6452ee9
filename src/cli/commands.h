// Each subcommand of the `amanuensis` CLI lives in its own file and registers itself here.
#pragma once

#include <functional>
#include <memory>

#include <CLI/CLI.hpp>

namespace amanuensis::cli {

inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

// Adds the subcommand's options to `app`; returns what to run if it is the one chosen. The
// action reads the parsed options, so it is only called after parsing succeeds.
using CommandAction = std::function<int()>;

CommandAction add_transcribe_command(CLI::App& app);
CommandAction add_serve_command(CLI::App& app);

}  // namespace amanuensis::cli
