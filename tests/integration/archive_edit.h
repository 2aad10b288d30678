// Archives rewritten for tests: a well-made archive (every checksum matches what it holds)
// whose entries or manifest say something else, to check what a reader refuses.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ops/archive.h"

namespace slipway::testing {

// The archive at `from` rewritten with `edit` applied to its entries and manifest fields (a
// well-made archive: every checksum matches what it holds).
inline void Rewrite(
    const std::filesystem::path& from, const std::filesystem::path& to,
    const std::function<void(std::map<std::string, std::string>&, boost::json::object&)>& edit) {
  std::vector<std::string> order;
  std::map<std::string, std::string> entries;
  auto read = ops::ReadArchive(from, "", [&](const ops::ArchiveEntry& e, std::string_view d) {
    if (!entries.count(e.name)) order.push_back(e.name);
    entries[e.name].append(d);
    return Status::Ok();
  });
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  boost::json::object fields = read->manifest;
  fields.erase("entries");
  fields.erase("format");
  edit(entries, fields);
  auto w = ops::ArchiveWriter::Create(to, {});
  ASSERT_TRUE(w.ok());
  for (const std::string& name : order) ASSERT_TRUE((*w)->AddBytes(name, entries[name]).ok());
  ASSERT_TRUE((*w)->Finish(fields).ok());
}

}  // namespace slipway::testing
