// SQLite backend of db::Connection: the embedded default (one file under STORAGE_PATH).
//
// Opened in WAL mode so readers never wait for the writer, with foreign keys on, a busy timeout
// so concurrent writers queue, and synchronous=FULL by default: a commit that was acknowledged
// survives a kill -9 and a power cut (DB_SQLITE_SYNCHRONOUS=normal trades the latter for speed).
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>

#include "db/database.h"

namespace slipway::db {

struct SqliteOptions {
  std::filesystem::path path;  // ":memory:" for a private in-memory database (tests)
  std::string synchronous = "full";
  // Shared by every connection of one pool to one file: writers take it in this process
  // instead of sleeping in SQLite's busy handler, so queued writes hand over at once. Readers
  // never take it (WAL). Null: rely on the busy timeout only.
  std::shared_ptr<std::mutex> write_lock;
  int busy_timeout_ms = 10'000;
};

// Opens (creating the file and its directory when missing) one connection.
Result<std::unique_ptr<Connection>> OpenSqlite(const SqliteOptions& options);

// Rewrites $1, $2, ... outside string literals and quoted identifiers into ?1, ?2, ....
std::string TranslatePlaceholdersForSqlite(std::string_view sql);

}  // namespace slipway::db
