// Indexes built after a change's commit on PostgreSQL (schema_store.h, "Indexes").

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "data/schema_store.h"

namespace slipway::data {
namespace json = boost::json;

namespace {

// How long a builder waits for another node building the same index before giving up.
constexpr auto kOtherBuilderWait = std::chrono::minutes(30);

// The indexes of the current schema, by name: whether each is valid.
Result<std::map<std::string, bool>> ExistingIndexes(db::Connection& conn) {
  ASSIGN_OR_RETURN(auto rs, conn.Query("SELECT c.relname, i.indisvalid FROM pg_index i JOIN "
                                       "pg_class c ON c.oid = i.indexrelid WHERE "
                                       "c.relnamespace = current_schema()::regnamespace"));
  std::map<std::string, bool> out;
  for (int r = 0; r < rs->row_count(); ++r) out[std::string(rs->Text(r, 0))] = rs->Bool(r, 1);
  return out;
}

// Whether the index exists, and is valid.
Result<std::optional<bool>> IndexState(db::Connection& conn, const std::string& name) {
  ASSIGN_OR_RETURN(auto rs, conn.Query("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                                       "to_regclass($1)",
                                       {db::Value(db::QuoteIdent(name))}));
  if (rs->row_count() == 0) return std::optional<bool>();
  return std::optional<bool>(rs->Bool(0, 0));
}

// A session-level advisory lock on the index's name, released when destroyed.
class BuilderLock {
 public:
  explicit BuilderLock(db::Connection& conn, std::string name)
      : conn_(conn), key_("slipway-index:" + std::move(name)) {}
  Status Acquire() {
    auto deadline = std::chrono::steady_clock::now() + kOtherBuilderWait;
    // Tried, not waited on: a session blocked on the lock would be a transaction that the
    // holder's CREATE INDEX CONCURRENTLY waits for in turn.
    while (true) {
      ASSIGN_OR_RETURN(auto rs,
                       conn_.Query("SELECT pg_try_advisory_lock(hashtext($1))", {db::Value(key_)}));
      if (rs->Bool(0, 0)) {
        held_ = true;
        return Status::Ok();
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return Unavailable("another node has been building index '" + key_.substr(14) +
                           "' for too long");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  ~BuilderLock() {
    if (held_) {
      conn_.Query("SELECT pg_advisory_unlock(hashtext($1))", {db::Value(key_)})
          .status()
          .IgnoreError();
    }
  }

 private:
  db::Connection& conn_;
  std::string key_;
  bool held_ = false;
};

}  // namespace

Result<std::vector<IndexSpec>> SchemaStore::UnbuiltIndexes(db::Connection& conn, const Schema* now,
                                                           const Schema& next) const {
  std::vector<IndexSpec> wanted;
  if (conn.dialect() != db::Dialect::kPostgres) return wanted;
  for (const auto& [name, after] : next.collections()) {
    const Collection* before = now != nullptr ? now->Find(name) : nullptr;
    // A new collection's table came with its indexes, unless the change went on to edit it
    // (a self-reference with its reverse field): what is missing is found below.
    if (now != nullptr && before == after.get()) continue;
    ASSIGN_OR_RETURN(std::vector<IndexSpec> indexes, IndexesOf(*after));
    std::vector<IndexSpec> had;
    if (before != nullptr) {
      ASSIGN_OR_RETURN(had, IndexesOf(*before));
    }
    for (IndexSpec& index : indexes) {
      if (std::find(had.begin(), had.end(), index) != had.end()) continue;
      wanted.push_back(std::move(index));
    }
  }
  if (wanted.empty()) return wanted;
  ASSIGN_OR_RETURN(auto existing, ExistingIndexes(conn));
  std::vector<IndexSpec> out;
  for (IndexSpec& index : wanted) {
    auto it = existing.find(index.name);
    if (it == existing.end() || !it->second) out.push_back(std::move(index));
  }
  return out;
}

Status SchemaStore::BuildIndex(db::Connection& conn, const IndexSpec& index) const {
  if (conn.in_transaction()) return Internal("an index is built outside any transaction");
  const std::string what = IndexOrigin(index);
  BuilderLock lock(conn, index.name);
  RETURN_IF_ERROR(lock.Acquire().WithContext(what));
  ASSIGN_OR_RETURN(std::optional<bool> state, IndexState(conn, index.name));
  if (state && *state) return Status::Ok();  // built by another node meanwhile
  const std::string drop = "DROP INDEX CONCURRENTLY IF EXISTS " + db::QuoteIdent(index.name);
  if (state) RETURN_IF_ERROR(conn.ExecScript(drop).WithContext(what));
  Status built = conn.ExecScript(CreateIndexSql(index, /*concurrently=*/true));
  if (built.ok()) {
    ASSIGN_OR_RETURN(state, IndexState(conn, index.name));
    if (state && *state) return Status::Ok();
    built = Internal("the index was left invalid");
  }
  // A failed concurrent build leaves an invalid index behind, which writes still maintain.
  conn.ExecScript(drop).IgnoreError();
  return built.WithContext(what + ": the index could not be built");
}

Result<std::shared_ptr<const Schema>> SchemaStore::ForgoIndex(db::Connection& conn,
                                                              const Schema& now,
                                                              const IndexSpec& index) const {
  const Collection* c = now.Find(index.collection);
  if (c == nullptr) return std::make_shared<const Schema>(now);  // gone meanwhile
  if (!index.field.empty()) {
    const Field* f = c->FindField(index.field);
    if (f == nullptr) return std::make_shared<const Schema>(now);
    return UpdateField(conn, now, index.collection, index.field,
                       json::object{{index.unique ? "unique" : "index", false}});
  }
  ASSIGN_OR_RETURN(std::vector<IndexSpec> had, IndexesOf(*c));
  const json::value* entries = c->options.if_contains("indexes");
  if (entries == nullptr || !entries->is_array()) return std::make_shared<const Schema>(now);
  // The entries of `indexes` are IndexesOf's last, in their order.
  json::array kept;
  const size_t first = had.size() - entries->as_array().size();
  for (size_t i = 0; i < entries->as_array().size(); ++i) {
    if (had[first + i].name != index.name) kept.push_back(entries->as_array()[i]);
  }
  return UpdateCollection(conn, now, index.collection, json::object{{"indexes", kept}});
}

}  // namespace slipway::data
