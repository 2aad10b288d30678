#include "cli/main.h"

#include "builtin.h"
#include "core/build_info.h"

int main(int argc, char** argv) {
  slipway::app::Distribution dist{
      slipway::core::ProductBuildInfo(), {}, slipway::plugins::BuiltinPlugins};
  return slipway::cli::Main(argc, argv, dist);
}
