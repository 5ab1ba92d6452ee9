// multipart/form-data parsing: well-formed bodies from real clients, and each malformation's
// message.
#include <gtest/gtest.h>

#include <string>

#include "service/api_error.h"
#include "service/multipart.h"

namespace amanuensis::service {
namespace {

std::string error_of(std::string_view body, std::string_view boundary = "b") {
  try {
    parse_multipart(body, boundary);
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 400);
    return error.what();
  }
  ADD_FAILURE() << "no error for: " << body;
  return {};
}

TEST(Multipart, Boundary) {
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(multipart_boundary("Multipart/Form-Data;boundary=\"a b:c\""), "a b:c");
  EXPECT_EQ(multipart_boundary("multipart/form-data; charset=utf-8; BOUNDARY=x"), "x");
  EXPECT_TRUE(is_multipart_form_data("multipart/form-data; boundary=x"));
  EXPECT_FALSE(is_multipart_form_data("multipart/mixed; boundary=x"));
  EXPECT_THROW(multipart_boundary("application/json"), ApiError);
  EXPECT_THROW(multipart_boundary("multipart/form-data"), ApiError);
  EXPECT_THROW(multipart_boundary("multipart/form-data; boundary="), ApiError);
  EXPECT_THROW(multipart_boundary("multipart/form-data; boundary=\"unterminated"), ApiError);
  EXPECT_THROW(multipart_boundary("multipart/form-data; boundary=" + std::string(300, 'x')),
               ApiError);
}

using namespace std::string_literals;

TEST(Multipart, FieldsAndFile) {
  const std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
      "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a b.wav\"\r\n"
      "Content-Type: Audio/WAV\r\n\r\n\r\n--not-a-boundary\0binary\r\n"
      "--b--\r\n"s;
  const std::string_view view(body.data(), body.size());
  const auto parts = parse_multipart(view, "b");
  ASSERT_EQ(parts.size(), 2U);
  EXPECT_EQ(parts[0].name, "model");
  EXPECT_FALSE(parts[0].has_filename);
  EXPECT_EQ(parts[0].data, "whisper-1");
  EXPECT_EQ(parts[1].name, "file");
  EXPECT_TRUE(parts[1].has_filename);
  EXPECT_EQ(parts[1].filename, "a b.wav");
  EXPECT_EQ(parts[1].content_type, "audio/wav");
  EXPECT_EQ(parts[1].data, std::string_view("\r\n--not-a-boundary\0binary", 25));
  // Views into the body, not copies.
  EXPECT_GE(parts[1].data.data(), body.data());
  EXPECT_LE(parts[1].data.data() + parts[1].data.size(), body.data() + body.size());
}

TEST(Multipart, PreambleEpilogueEmptyPartAndExtendedFilename) {
  const auto parts = parse_multipart(
      "ignored preamble\r\n--b  \r\nContent-Disposition: form-data; name=x; "
      "filename*=UTF-8''na%C3%AFve.wav\r\n\r\n\r\n--b--\r\nepilogue",
      "b");
  ASSERT_EQ(parts.size(), 1U);
  EXPECT_EQ(parts[0].filename, "na\xC3\xAFve.wav");
  EXPECT_TRUE(parts[0].data.empty());
}

TEST(Multipart, EscapedQuotesInName) {
  const auto parts = parse_multipart(
      "--b\r\nContent-Disposition: form-data; name=\"a\\\"b\"; filename=\"\"\r\n\r\nv\r\n--b--",
      "b");
  ASSERT_EQ(parts.size(), 1U);
  EXPECT_EQ(parts[0].name, "a\"b");
  EXPECT_TRUE(parts[0].has_filename);
  EXPECT_EQ(parts[0].filename, "");
}

TEST(Multipart, Malformed) {
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("no boundary here").find("never occurs"), std::string::npos);
  EXPECT_NE(error_of("--b--\r\n").find("no parts"), std::string::npos);
  EXPECT_NE(error_of("--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\ndata")
                .find("truncated in part 'f'"),
            std::string::npos);
  EXPECT_NE(error_of("--b\r\nContent-Disposition: form-data; name=\"f\"")
                .find("truncated in the headers"),
            std::string::npos);
  EXPECT_NE(
      error_of("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--").find("no Content-Disposition"),
      std::string::npos);
  EXPECT_NE(error_of("--b\r\nContent-Disposition: attachment; name=x\r\n\r\nx\r\n--b--")
                .find("not form-data"),
            std::string::npos);
  EXPECT_NE(
      error_of("--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--").find("no field name"),
      std::string::npos);
  EXPECT_NE(error_of("--b\r\nno colon\r\n\r\nx\r\n--b--").find("without a name"),
            std::string::npos);
  EXPECT_NE(error_of("--bXYZ\r\n").find("unexpected data after a boundary"), std::string::npos);
  EXPECT_NE(error_of("--b").find("truncated after part 0"), std::string::npos);
  EXPECT_NE(
      error_of("--b\r\nX: " + std::string(kMaxPartHeaderBytes + 10, 'a')).find("bytes of headers"),
      std::string::npos);
  std::string many;
  for (std::size_t i = 0; i <= kMaxFormParts; ++i) {
    many += "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n";
  }
  EXPECT_NE(error_of(many + "--b--").find("more than 256 parts"), std::string::npos);
}

}  // namespace
}  // namespace amanuensis::service
