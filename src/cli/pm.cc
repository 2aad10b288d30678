// `slipway pm list|add|enable|disable|remove|upgrade`: the plugin manager from the command line,
// working on the database directly (a running node picks the change up within
// SYNC_POLL_INTERVAL).
#include <cstdio>

#include "cli/command.h"
#include "cli/exit_code.h"

namespace slipway::cli {
namespace {

namespace json = boost::json;

std::string Text(const json::object& p, std::string_view key) {
  const json::value* v = p.if_contains(key);
  if (v == nullptr || v->is_null()) return "";
  return v->is_string() ? std::string(v->as_string()) : json::serialize(*v);
}

void PrintPlugin(const json::object& p) {
  std::string line = Text(p, "name") + " " + Text(p, "version");
  if (Text(p, "packageVersion") != Text(p, "version"))
    line += " (added: " + Text(p, "packageVersion") + ")";
  line += p.at("enabled").as_bool() ? "  enabled" : "  disabled";
  if (p.at("builtIn").as_bool()) line += "  built-in";
  if (p.contains("required") && p.at("required").as_bool()) line += "  required";
  std::string error = Text(p, "error");
  if (!error.empty()) line += "  ERROR: " + error;
  std::printf("%s\n", line.c_str());
}

}  // namespace

Command AddPm(CLI::App& root, const app::Distribution& dist) {
  auto* cmd =
      root.add_subcommand("pm", "Manage plugins: list, add, enable, disable, remove, upgrade");
  cmd->require_subcommand(1);
  auto flags = std::make_shared<ConfigFlags>();
  flags->AddTo(cmd, /*server_flags=*/false);
  auto name = std::make_shared<std::string>();
  auto file = std::make_shared<std::string>();
  auto purge = std::make_shared<bool>(false);
  auto* list = cmd->add_subcommand("list", "List plugins and their state");
  auto* add = cmd->add_subcommand("add", "Add a plugin package (.tgz)");
  add->add_option("file", *file, "The package file")->required();
  auto* enable = cmd->add_subcommand("enable", "Enable a plugin (and what it depends on)");
  auto* disable = cmd->add_subcommand("disable", "Disable a plugin");
  auto* remove = cmd->add_subcommand("remove", "Remove a disabled plugin");
  remove->add_flag("--purge", *purge, "Also drop its tables and forget its migrations");
  auto* upgrade = cmd->add_subcommand("upgrade", "Run the migrations of a newer added version");
  for (auto* sub : {enable, disable, remove, upgrade})
    sub->add_option("name", *name, "The plugin")->required();
  // `slipway pm list --storage DIR` as well as `slipway pm --storage DIR list`.
  for (auto* sub : {list, add, enable, disable, remove, upgrade}) sub->fallthrough();

  return {cmd, [=, &dist]() -> int {
            auto config = flags->Load();
            if (!config.ok()) return Report(config.status());
            InitLogging(*config, dist, /*one_shot=*/true);
            app::Application application(*config, dist);
            auto pm = application.Plugins();
            if (!pm.ok()) return Report(pm.status());
            if (list->parsed()) {
              auto all = (*pm)->List();
              if (!all.ok()) return Report(all.status());
              for (const auto& p : *all) PrintPlugin(p.as_object());
              return kExitOk;
            }
            Result<json::object> result = Internal("no pm command given");
            if (add->parsed()) result = (*pm)->AddFromPath(*file);
            if (enable->parsed()) result = (*pm)->Enable(*name);
            if (disable->parsed()) result = (*pm)->Disable(*name);
            if (upgrade->parsed()) result = (*pm)->Upgrade(*name);
            if (remove->parsed()) {
              Status s = (*pm)->Remove(*name, *purge);
              if (s.ok())
                std::printf("removed %s%s\n", name->c_str(), *purge ? " (tables dropped)" : "");
              return Report(s);
            }
            if (!result.ok()) return Report(result.status());
            PrintPlugin(*result);
            return kExitOk;
          }};
}

}  // namespace slipway::cli
