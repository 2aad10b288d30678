// Query strings (and application/x-www-form-urlencoded bodies) parsed the way the npm `qs`
// package parses them, which is what NocoBase's server does with what its client (axios + qs,
// arrayFormat "brackets") sends:
//
//   a=1&a=2                  {"a": ["1", "2"]}
//   a[]=1&a[]=2              {"a": ["1", "2"]}
//   a[0]=x&a[1]=y            {"a": ["x", "y"]}          indices up to 100 make arrays; a larger
//   a[101]=x                 {"a": {"101": "x"}}         one is an object key, as in qs
//   a[b][c]=1                {"a": {"b": {"c": "1"}}}   at most 8 bracket levels; the rest of a
//                                                       deeper key stays one key, as qs's depth
//   a                        {"a": ""}
//   a+b=c%20d                {"a b": "c d"}
//
// Keys are percent-decoded before their brackets are read ("a%5Bb%5D=1" is a[b]=1). Values stay
// strings; the layer above converts them. In particular a `filter` given in bracket notation
// (filter[views][$gt]=5) is an object whose leaf values are all strings, which the filter
// compiler accepts because ToDbValue takes numeric strings for numeric fields and "true"/"false"
// for booleans. Where qs merges a plain value into an object (a[b]=1&a=2) the value becomes a key
// whose value is true, as in qs.
//
// Fails with InvalidArgument naming the parameter for a malformed percent escape, a decoded key
// or value that is not UTF-8 or holds a NUL byte, and for more than 1000 parameters.
// Thread-safety: a pure function.
#pragma once

#include <boost/json.hpp>
#include <string_view>

#include "slipway/status.h"

namespace slipway::http {

inline constexpr size_t kMaxQueryParameters = 1000;
inline constexpr int kMaxQueryDepth = 8;          // bracket levels read from one key
inline constexpr long kMaxQueryArrayIndex = 100;  // a[100] is an array element, a[101] a key

// `raw_query` is the part after '?' (without it).
Result<boost::json::object> ParseQueryString(std::string_view raw_query);

}  // namespace slipway::http
