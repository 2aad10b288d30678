#include "http/multipart.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace slipway::http {
namespace {

// Byte for byte the framing `curl -F name=hello -F file=@hello-1.0.0.tgz URL` sends (captured from
// curl 7.88.1), with a
// binary file that holds CR, LF, NUL and dashes.
const std::string kCurlBoundary = "------------------------d74496d66958873e";
const std::string kCurlType = "multipart/form-data; boundary=" + kCurlBoundary;
const std::string kBinary = std::string("\x1f\x8b\x08\0\r\n--\r\n\r\n-", 13) + "end";
const std::string kCurlBody = "--" + kCurlBoundary +
                              "\r\n"
                              "Content-Disposition: form-data; name=\"name\"\r\n"
                              "\r\n"
                              "hello\r\n"
                              "--" +
                              kCurlBoundary +
                              "\r\n"
                              "Content-Disposition: form-data; name=\"file\"; "
                              "filename=\"hello-1.0.0.tgz\"\r\n"
                              "Content-Type: application/octet-stream\r\n"
                              "\r\n" +
                              kBinary + "\r\n--" + kCurlBoundary + "--\r\n";

TEST(MultipartTest, ParsesWhatCurlSends) {
  auto parts = ParseMultipart(kCurlBody, kCurlType);
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "name");
  EXPECT_EQ((*parts)[0].filename, "");
  EXPECT_EQ((*parts)[0].content_type, "text/plain");
  EXPECT_EQ((*parts)[0].data, "hello");
  EXPECT_EQ((*parts)[1].name, "file");
  EXPECT_EQ((*parts)[1].filename, "hello-1.0.0.tgz");
  EXPECT_EQ((*parts)[1].content_type, "application/octet-stream");
  EXPECT_EQ((*parts)[1].data, kBinary);
}

TEST(MultipartTest, PreambleEpilogueQuotingAndCase) {
  std::string body =
      "This is the preamble.\r\n--b0und\"ary\r\n"  // not the boundary: the quote is part of it
      "\r\n--XyZ  \t\r\n"                          // padding after a boundary is allowed
      "content-disposition: FORM-DATA; NAME=\"a\\\"b\"; filename=\"c:\\\\x.txt\"\r\n"
      "X-Other: ignored\r\n"
      "\r\n"
      "one\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=empty\r\n"
      "\r\n"
      "\r\n"
      "--XyZ--epilogue is ignored, even --XyZ\r\n";
  auto parts = ParseMultipart(body, "Multipart/Form-Data ; charset=utf-8; boundary=\"XyZ\"");
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "a\"b");
  EXPECT_EQ((*parts)[0].filename, "c:\\x.txt");
  EXPECT_EQ((*parts)[0].data, "one");
  EXPECT_EQ((*parts)[1].name, "empty");
  EXPECT_EQ((*parts)[1].data, "");
}

TEST(MultipartTest, NoPartsAndPartWithoutHeaders) {
  auto none = ParseMultipart("--b--\r\n", "multipart/form-data; boundary=b");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  auto headerless = ParseMultipart("--b\r\n\r\ndata\r\n--b--", "multipart/form-data; boundary=b");
  ASSERT_FALSE(headerless.ok());
  EXPECT_NE(headerless.status().message().find("part 1: no Content-Disposition"), std::string::npos)
      << headerless.status().message();
}

TEST(MultipartTest, AtMost100Parts) {
  std::string body;
  for (size_t i = 0; i < kMaxMultipartParts; ++i) {
    body +=
        "--b\r\nContent-Disposition: form-data; name=\"f" + std::to_string(i) + "\"\r\n\r\nx\r\n";
  }
  auto ok = ParseMultipart(body + "--b--", "multipart/form-data; boundary=b");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->size(), kMaxMultipartParts);
  body += "--b\r\nContent-Disposition: form-data; name=\"extra\"\r\n\r\nx\r\n--b--";
  auto too_many = ParseMultipart(body, "multipart/form-data; boundary=b");
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.status().message().find("more than 100 parts"), std::string::npos);
}

struct Malformed {
  const char* content_type;
  std::string body;
  const char* error;  // expected in the message
};

const std::string kPart = "Content-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n";

const Malformed kMalformed[] = {
    {"application/json", "{}", "expected multipart/form-data, got 'application/json'"},
    {"multipart/mixed; boundary=b", "", "expected multipart/form-data"},
    {"multipart/form-data", "--b\r\n", "no boundary parameter"},
    {"multipart/form-data; boundary=", "--\r\n", "boundary ''"},
    {"multipart/form-data; boundary=\"a b \"", "", "boundary 'a b '"},
    {"multipart/form-data; boundary=\"a\rb\"", "", "boundary"},
    {"multipart/form-data; boundary=\"unterminated", "", "unterminated quoted string"},
    {"multipart/form-data; boundary=b; boundary=c", "", "parameter 'boundary' is repeated"},
    {"multipart/form-data; boundary", "", "malformed parameter"},
    {"multipart/form-data; boundary=b", "no delimiter here", "does not contain the boundary 'b'"},
    {"multipart/form-data; boundary=b", "--b\r\n" + kPart + "--b",
     "body ends before the closing boundary"},
    {"multipart/form-data; boundary=b", "--b\r\n" + kPart + "--bx\r\n" + kPart + "--b--",
     "boundary line after part 1 is not followed by CRLF"},
    {"multipart/form-data; boundary=b",
     "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx",
     "part 1 is not followed by a boundary"},
    {"multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=f",
     "part 1: headers do not end"},
    {"multipart/form-data; boundary=b", "--b\nContent-Disposition: form-data; name=f\n\nx\n--b--",
     "not followed by CRLF"},
    {"multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--",
     "part 1: Content-Disposition has no name"},
    {"multipart/form-data; boundary=b",
     "--b\r\nContent-Disposition: attachment; name=f\r\n\r\nx\r\n--b--",
     "part 1: Content-Disposition must be form-data, not 'attachment'"},
    {"multipart/form-data; boundary=b",
     "--b\r\n" + kPart + "--b\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nx\r\n--b--",
     "part 2: Content-Disposition: parameter 'name' is repeated"},
    {"multipart/form-data; boundary=b",
     "--b\r\nContent-Disposition: form-data; name=f\r\nContent-Disposition: form-data; "
     "name=g\r\n\r\nx\r\n--b--",
     "part 1: Content-Disposition is repeated"},
    {"multipart/form-data; boundary=b",
     "--b\r\nContent-Disposition: form-data;\r\n name=f\r\n\r\nx\r\n--b--",
     "part 1: folded header lines"},
    {"multipart/form-data; boundary=b", "--b\r\nno colon\r\n\r\nx\r\n--b--",
     "part 1: malformed header line 'no colon'"},
    {"multipart/form-data; boundary=b",
     "--b\r\nContent-Disposition: form-data; name=\"f\" junk\r\n\r\nx\r\n--b--",
     "unexpected 'j' after parameter 'name'"},
    {"multipart/form-data; boundary=b",
     "--b\r\nX: " + std::string(kMaxMultipartHeaderBytes, 'h') + "\r\n\r\nx\r\n--b--",
     "headers do not end with an empty line within 8192 bytes"},
};

TEST(MultipartTest, RefusesMalformedInputNamingTheProblem) {
  for (const Malformed& m : kMalformed) {
    auto parts = ParseMultipart(m.body, m.content_type);
    ASSERT_FALSE(parts.ok()) << m.content_type << "\n" << m.body;
    EXPECT_EQ(parts.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parts.status().message().find(m.error), std::string::npos)
        << parts.status().message() << "\n  expected: " << m.error;
  }
}

// What a MultipartReader reports for `body` fed in `slices` (sizes, in order, the rest at the
// end): each part's head and all its bytes, or the first error. Equal traces for every slicing
// mean the reader does not depend on how the body arrives.
std::string Trace(std::string_view content_type, std::string_view body,
                  const std::vector<size_t>& slices) {
  std::string trace;
  MultipartReader::Callbacks cb;
  cb.begin = [&](const PartHead& h) {
    trace += "[" + h.name + "|" + h.filename + "|" + h.content_type + "]";
    return Status::Ok();
  };
  cb.data = [&](std::string_view bytes) {
    EXPECT_FALSE(bytes.empty());
    trace.append(bytes);
    return Status::Ok();
  };
  cb.end = [&] {
    trace += "[end]";
    return Status::Ok();
  };
  auto reader = MultipartReader::Create(content_type, cb);
  if (!reader.ok()) return "error: " + reader.status().message();
  Status s;
  size_t pos = 0;
  for (size_t n : slices) {
    if (!s.ok() || pos >= body.size()) break;
    s = reader->Feed(body.substr(pos, n));
    pos += n;
  }
  if (s.ok() && pos < body.size()) s = reader->Feed(body.substr(pos));
  if (s.ok()) s = reader->Finish();
  return s.ok() ? trace : "error: " + s.message();
}

// Bodies whose parsing crosses every state of the reader, with data that holds boundary-like
// bytes ("\r\n--XY..." prefixes) which a split could make look like a delimiter.
std::vector<std::pair<std::string, std::string>> SplitCorpus() {
  std::vector<std::pair<std::string, std::string>> corpus = {
      {kCurlType, kCurlBody},
      {"multipart/form-data; boundary=XYZ",
       "pre\r\n--XY\r\n--XYZ \t\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n"
       "\r\n\r\n--XY\r\n--X\r\n-\r\n--XYz--XYZ\r\r\n--XYZ\r\nContent-Disposition: form-data; "
       "name=g\r\n\r\n\r\n\r\n--XYZ\r\n\r\n--XYZ--\r\nepilogue --XYZ"},
      {"multipart/form-data; boundary=b",
       "--b\r\nContent-Disposition: form-data; name=f\r\n\r\n"
       "data\r\r\n--b--"},
      {"multipart/form-data; boundary=b", "--b\r"},
      {"multipart/form-data; boundary=b", "--b-"},
      {"multipart/form-data; boundary=b", "--b  "},
      {"multipart/form-data; boundary=b", "--b"},
      {"multipart/form-data; boundary=b", "--"},
      {"multipart/form-data; boundary=b", "\r\n--b--"},
      {"multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=f\r"},
  };
  for (const Malformed& m : kMalformed) corpus.emplace_back(m.content_type, m.body);
  return corpus;
}

TEST(MultipartReaderTest, EverySplitGivesTheSameResult) {
  for (const auto& [type, body] : SplitCorpus()) {
    const std::string whole = Trace(type, body, {body.size()});
    EXPECT_EQ(Trace(type, body, std::vector<size_t>(body.size(), 1)), whole) << body;
    for (size_t i = 0; i <= body.size(); ++i) {
      ASSERT_EQ(Trace(type, body, {i}), whole) << "split at " << i << " of\n" << body;
    }
  }
}

TEST(MultipartReaderTest, RandomSlicesGiveTheSameResult) {
  std::mt19937 random(7);
  for (const auto& [type, body] : SplitCorpus()) {
    const std::string whole = Trace(type, body, {body.size()});
    for (int round = 0; round < 50; ++round) {
      std::vector<size_t> slices;
      for (size_t total = 0; total < body.size();) {
        slices.push_back(std::uniform_int_distribution<size_t>(0, 12)(random));
        total += slices.back();
      }
      ASSERT_EQ(Trace(type, body, slices), whole) << body;
    }
  }
}

TEST(MultipartReaderTest, AgreesWithParseMultipart) {
  auto parts = ParseMultipart(kCurlBody, kCurlType);
  ASSERT_TRUE(parts.ok());
  std::string expected;
  for (const Part& p : *parts) {
    expected += "[" + p.name + "|" + p.filename + "|" + p.content_type + "]" + p.data + "[end]";
  }
  EXPECT_EQ(Trace(kCurlType, kCurlBody, {1, 2, 3, 5, 8, 13}), expected);
}

TEST(MultipartReaderTest, LargePartsStreamWithoutBuffering) {
  // 4 MiB of data fed in 64 KiB slices: every byte is passed on in the Feed that brought it
  // (nothing but a possible delimiter prefix is held back).
  const std::string data(4 << 20, 'x');
  const std::string body = "--b\r\nContent-Disposition: form-data; name=f; filename=big\r\n\r\n" +
                           data + "\r\n--b--\r\n";
  size_t received = 0;
  MultipartReader::Callbacks cb;
  cb.data = [&](std::string_view bytes) {
    received += bytes.size();
    return Status::Ok();
  };
  auto reader = MultipartReader::Create("multipart/form-data; boundary=b", cb);
  ASSERT_TRUE(reader.ok());
  size_t fed = 0;
  for (size_t pos = 0; pos < body.size(); pos += 65536) {
    ASSERT_TRUE(reader->Feed(std::string_view(body).substr(pos, 65536)).ok());
    fed = std::min(body.size(), pos + 65536);
    size_t header = body.find("\r\n\r\n") + 4;
    if (fed > header && fed < header + data.size()) {
      EXPECT_EQ(received, fed - header);
    }
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(received, data.size());
}

TEST(MultipartReaderTest, CallbackErrorsStopTheReader) {
  MultipartReader::Callbacks cb;
  cb.begin = [](const PartHead& h) { return ResourceExhausted("no more parts"); };
  auto reader = MultipartReader::Create("multipart/form-data; boundary=b", cb);
  ASSERT_TRUE(reader.ok());
  Status s = reader->Feed("--b\r\nContent-Disposition: form-data; name=f\r\n\r\nx");
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(reader->Feed("\r\n--b--").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(reader->Finish().code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace slipway::http
