#include "db/postgres/postgres_session.h"

#include <string>
#include <vector>

namespace slipway::db::postgres {
namespace {

void IgnoreNotice(void*, const char*) {}

}  // namespace

std::string OneLine(std::string_view message) {
  std::string out;
  size_t start = 0;
  while (start <= message.size()) {
    size_t end = message.find('\n', start);
    if (end == std::string_view::npos) end = message.size();
    std::string_view line = message.substr(start, end - start);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
      line.remove_suffix(1);
    }
    if (!line.empty()) {
      if (!out.empty()) out += ' ';
      out += line;
    }
    start = end + 1;
  }
  return out;
}

Result<PgConnPtr> Connect(const PostgresOptions& options, std::string_view application_name) {
  const std::string port = std::to_string(options.port);
  const std::string timeout = std::to_string(options.connect_timeout_s);
  const std::string app(application_name.empty() ? std::string_view(options.application_name)
                                                 : application_name);
  std::vector<const char*> keys = {
      "host", "port", "dbname", "user", "connect_timeout", "application_name", "client_encoding",
      // Notice a dead server (not only a restarted one) within a
      // minute instead of the kernel's two hours.
      "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count"};
  std::vector<const char*> values = {options.host.c_str(),
                                     port.c_str(),
                                     options.database.c_str(),
                                     options.user.c_str(),
                                     timeout.c_str(),
                                     app.c_str(),
                                     "UTF8",
                                     "1",
                                     "30",
                                     "10",
                                     "3"};
  if (!options.password.empty()) {
    keys.push_back("password");
    values.push_back(options.password.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PgConnPtr conn(PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/0));
  if (conn == nullptr) {
    return Unavailable("cannot connect to PostgreSQL at " + options.Describe() + ": out of memory");
  }
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return Unavailable("cannot connect to PostgreSQL at " + options.Describe() + ": " +
                       OneLine(PQerrorMessage(conn.get())));
  }
  PQsetNoticeProcessor(conn.get(), IgnoreNotice, nullptr);
  PgResultPtr set(PQexec(conn.get(),
                         "SET TIME ZONE 'UTC'; SET client_encoding = 'UTF8'; "
                         "SET DateStyle = 'ISO, MDY'"));
  if (set == nullptr || PQresultStatus(set.get()) != PGRES_COMMAND_OK) {
    return Unavailable("cannot configure the session on " + options.Describe() + ": " +
                       OneLine(PQerrorMessage(conn.get())));
  }
  return conn;
}

}  // namespace slipway::db::postgres
