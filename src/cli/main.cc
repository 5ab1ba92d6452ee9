// amanuensis: the command-line front end. Subcommands live in their own files.
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "cli/commands.h"

namespace {

int run(int argc, char** argv) {
  using namespace amanuensis::cli;
  CLI::App app{"Amanuensis: Whisper speech-to-text", "amanuensis"};
  app.require_subcommand(1);
  const std::vector<CommandAction> actions = {
      add_transcribe_command(app), add_serve_command(app),  add_devices_command(app),
      add_worker_command(app),     add_bench_command(app),  add_vad_command(app),
      add_listen_command(app),     add_convert_command(app)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: " << e.what() << "\n\n" << app.help();
    return kExitUsage;
  }

  // Subcommands are listed in the order they were added, as are their actions.
  const auto subcommands = app.get_subcommands({});
  for (std::size_t i = 0; i < actions.size(); ++i) {
    if (!subcommands[i]->parsed()) continue;
    try {
      return actions[i]();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return kExitError;
    }
  }
  return kExitUsage;
}

}  // namespace

// Anything that escapes run() (building the command line, printing help) is reported, not left to
// std::terminate.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "error: unknown exception\n");
  }
  return amanuensis::cli::kExitError;
}
