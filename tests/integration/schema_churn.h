// Schema churn: clients create, update, read and list records of a collection while one more
// client creates and destroys a field of the same collection over and over (issue 11's load).
// Every request must succeed with the right value: a removal drops its column only once no
// request still names it, an addition is in the table before any snapshot names it.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "api_client.h"

namespace slipway::testing {

struct ChurnResult {
  int requests = 0;       // by the record clients
  int failed = 0;         // a status other than 200, or a wrong value
  int server_errors = 0;  // of those, 5xx
  int changes = 0;        // fields created and destroyed
  int changes_failed = 0;
  std::vector<std::string> samples;  // the first few failures
};

// What the churn does to the collection: create and destroy a field `churn`, or rename an
// existing field `note` to `memo` and back.
enum class Churn { kAddAndDrop, kRename };

// Record clients are spread over `ports` round-robin; the churn runs through the first port.
// The collection must have a string field `title` (and, for kRename, a field `note`).
inline ChurnResult RunSchemaChurn(const std::vector<int>& ports, const std::string& token,
                                  const std::string& collection, std::chrono::milliseconds duration,
                                  Churn churn = Churn::kAddAndDrop, int clients = 8) {
  namespace json = boost::json;
  std::mutex mu;
  ChurnResult result;
  std::atomic<bool> stop{false};
  auto fail = [&](const std::string& what, const ApiResult& r) {
    std::lock_guard lock(mu);
    ++result.failed;
    if (r.status >= 500) ++result.server_errors;
    if (result.samples.size() < 5) {
      result.samples.push_back(what + " -> " + std::to_string(r.status) + " " + r.body);
    }
  };
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      Api api(ports[c % ports.size()]);
      api.set_token(token);
      int n = 0;
      for (int k = 0; !stop.load(); ++k) {
        std::string title = "c" + std::to_string(c) + "-" + std::to_string(k);
        ApiResult created = api.Post(collection + ":create", json::object{{"title", title}});
        ++n;
        if (created.status != 200 || created.data().at("title") != json::value(title)) {
          fail("create", created);
          continue;
        }
        std::string id = json::serialize(created.data().at("id"));
        ApiResult updated =
            api.Post(collection + ":update?filterByTk=" + id, json::object{{"title", title + "u"}});
        ++n;
        if (updated.status != 200) fail("update", updated);
        ApiResult got = api.Get(collection + ":get?filterByTk=" + id);
        ++n;
        if (got.status != 200 || got.data().at("title") != json::value(title + "u")) {
          fail("get", got);
        }
        ApiResult listed = api.Get(collection + ":list?pageSize=5&sort=-id");
        ++n;
        if (listed.status != 200 || !listed.data().is_array()) fail("list", listed);
      }
      std::lock_guard lock(mu);
      result.requests += n;
    });
  }
  threads.emplace_back([&] {
    Api api(ports[0]);
    api.set_token(token);
    const std::string fields = "collections/" + collection + "/fields";
    while (!stop.load()) {
      ApiResult made, gone;
      if (churn == Churn::kAddAndDrop) {
        made =
            api.Post(fields + ":create",
                     json::object{{"name", "churn"}, {"type", "string"}, {"interface", "input"}});
        gone = api.Post(fields + ":destroy?filterByTk=churn");
      } else {
        made = api.Post(fields + ":update?filterByTk=note", json::object{{"name", "memo"}});
        gone = api.Post(fields + ":update?filterByTk=memo", json::object{{"name", "note"}});
      }
      std::lock_guard lock(mu);
      result.changes += 2;
      for (const ApiResult* r : {&made, &gone}) {
        if (r->status == 200) continue;
        ++result.changes_failed;
        if (result.samples.size() < 5) {
          result.samples.push_back("field change -> " + std::to_string(r->status) + " " + r->body);
        }
      }
    }
  });
  std::this_thread::sleep_for(duration);
  stop = true;
  for (auto& t : threads) t.join();
  return result;
}

inline std::string Describe(const ChurnResult& r) {
  std::string out = std::to_string(r.requests) + " requests, " + std::to_string(r.failed) +
                    " failed (" + std::to_string(r.server_errors) + " 5xx), " +
                    std::to_string(r.changes) + " field changes (" +
                    std::to_string(r.changes_failed) + " failed)";
  for (const auto& s : r.samples) out += "\n  " + s.substr(0, 300);
  return out;
}

}  // namespace slipway::testing
