// Tests for runtime/json: escaping, numbers, non-finite values, field order.
#include "runtime/train/json.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

using namespace kiln;

TEST_CASE("json_quote escapes", "[runtime][json]") {
  CHECK(json_quote("plain") == "\"plain\"");
  CHECK(json_quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(json_quote("line\nnext\ttab\r") == "\"line\\nnext\\ttab\\r\"");
  CHECK(json_quote(std::string("\x01\x1f", 2)) == "\"\\u0001\\u001f\"");
  CHECK(json_quote(std::string("nul\0x", 5)) == "\"nul\\u0000x\"");
  CHECK(json_quote("caf\xc3\xa9 \xe2\x82\xac") == "\"caf\xc3\xa9 \xe2\x82\xac\"");  // valid UTF-8 kept
  CHECK(json_quote("bad\xff") == "\"bad\\ufffd\"");                                // invalid replaced
  CHECK(json_quote("\xc3") == "\"\\ufffd\"");                                      // truncated sequence
  CHECK(json_quote("/") == "\"/\"");
}

TEST_CASE("json_number", "[runtime][json]") {
  CHECK(json_number(0.25) == "0.25");
  CHECK(json_number(3) == "3");
  CHECK(json_number(-1e-7) == "-1e-07");
  CHECK(json_number(std::nan("")) == "null");
  CHECK(json_number(std::numeric_limits<double>::infinity()) == "null");
  CHECK(json_number(-std::numeric_limits<double>::infinity()) == "null");
}

TEST_CASE("JsonObject renders one line in insertion order", "[runtime][json]") {
  JsonObject o;
  o.add("model", "mlp")
      .add("epochs", 10)
      .add("examples", int64_t{60000})
      .add("test_acc", 0.8512)
      .add("lr", 0.1f)
      .add("gpu", false)
      .add("loss", std::nan(""))
      .add("name", std::string("q\"uote"))
      .add_raw("dims", "[1,2]");
  CHECK(o.str() ==
        "{\"model\":\"mlp\",\"epochs\":10,\"examples\":60000,\"test_acc\":0.8512,\"lr\":0.1,"
        "\"gpu\":false,\"loss\":null,\"name\":\"q\\\"uote\",\"dims\":[1,2]}");
  CHECK(JsonObject().str() == "{}");
  JsonObject keys;
  keys.add("we\"ird\n", true);
  CHECK(keys.str() == "{\"we\\\"ird\\n\":true}");
}
