// `amanuensis serve`: the process lifecycle of the HTTP service.
//
// The only header the CLI includes; Boost stays inside the service library.
#pragma once

#include "service/service_context.h"

namespace amanuensis::service {

// Listens on config.host:config.port, loads the model (GET /health answers 503 until it is
// ready), serves until SIGTERM or SIGINT, then stops accepting, lets requests in progress finish
// and returns 0. Throws amanuensis::Error when it cannot listen or load the model.
int run_server(const ServeConfig& config);

}  // namespace amanuensis::service
