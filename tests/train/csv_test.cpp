// Tests for runtime/csv: RFC 4180 quoting, line endings, missing values, numbers, errors.
#include "runtime/train/csv.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "runtime/atomic_file.h"
#include "temp_dir.h"

using namespace kiln;

TEST_CASE("parse_csv handles quoting", "[runtime][csv]") {
  auto t = parse_csv("a,b,c\n1,\"x,y\",\"say \"\"hi\"\"\"\n\"multi\nline\",,NA\n", "q.csv");
  REQUIRE(t.ok());
  REQUIRE(t->header == std::vector<std::string>{"a", "b", "c"});
  REQUIRE(t->num_rows() == 2);
  CHECK(t->rows[0] == std::vector<std::string>{"1", "x,y", "say \"hi\""});
  CHECK(t->rows[1] == std::vector<std::string>{"multi\nline", "", "NA"});
  CHECK(t->row_lines == std::vector<int64_t>{2, 3});
  CHECK(t->column("b") == 1);
  CHECK(t->column("zz") == -1);
  CHECK(t->where(1) == "q.csv:3");
  CHECK(csv_is_missing(t->rows[1][1]));
  CHECK(csv_is_missing(t->rows[1][2]));
  CHECK(!csv_is_missing(t->rows[0][0]));
}

TEST_CASE("parse_csv line endings, BOM, blank lines, no final newline", "[runtime][csv]") {
  auto t = parse_csv("\xEF\xBB\xBFId,v\r\n1,2\r\n\r\n3,\"\"\r\n4,5", "e.csv");
  REQUIRE(t.ok());
  CHECK(t->header[0] == "Id");
  REQUIRE(t->num_rows() == 3);
  CHECK(t->rows[1] == std::vector<std::string>{"3", ""});
  CHECK(t->rows[2] == std::vector<std::string>{"4", "5"});
  CHECK(t->row_lines == std::vector<int64_t>{2, 4, 5});

  auto trailing = parse_csv("a,b\n1,", "t.csv");
  REQUIRE(trailing.ok());
  CHECK(trailing->rows[0] == std::vector<std::string>{"1", ""});
}

TEST_CASE("parse_csv errors carry file:line", "[runtime][csv]") {
  auto wrong = parse_csv("a,b\n1,2\n1,2,3\n", "w.csv");
  REQUIRE(!wrong.ok());
  CHECK_THAT(wrong.error().message(), Catch::Contains("w.csv:3") && Catch::Contains("expected 2 fields"));

  auto short_row = parse_csv("a,b\n1\n", "s.csv");
  REQUIRE(!short_row.ok());
  CHECK_THAT(short_row.error().message(), Catch::Contains("s.csv:2"));
  CsvOptions pad;
  pad.pad_short_rows = true;
  auto padded = parse_csv("a,b\n1\n", "s.csv", pad);
  REQUIRE(padded.ok());
  CHECK(padded->rows[0] == std::vector<std::string>{"1", ""});

  auto open = parse_csv("a,b\n1,\"never\nclosed\n", "u.csv");
  REQUIRE(!open.ok());
  CHECK_THAT(open.error().message(), Catch::Contains("u.csv:2") && Catch::Contains("unterminated"));

  auto after = parse_csv("a,b\n\"x\"y,2\n", "v.csv");
  REQUIRE(!after.ok());
  CHECK_THAT(after.error().message(), Catch::Contains("v.csv:2") && Catch::Contains("after a closing quote"));

  auto stray = parse_csv("a,b\nx\"y,2\n", "x.csv");
  REQUIRE(!stray.ok());
  CHECK_THAT(stray.error().message(), Catch::Contains("x.csv:2"));

  auto empty = parse_csv("", "empty.csv");
  REQUIRE(!empty.ok());
  CHECK_THAT(empty.error().message(), Catch::Contains("empty.csv"));
}

TEST_CASE("read_csv reads files and reports missing ones", "[runtime][csv]") {
  testing::TempDir dir;
  REQUIRE(write_file_atomic(dir.file("t.csv"), "x;y\n1;2\n").ok());
  CsvOptions semi;
  semi.delimiter = ';';
  auto t = read_csv(dir.file("t.csv"), semi);
  REQUIRE(t.ok());
  CHECK(t->rows[0] == std::vector<std::string>{"1", "2"});
  auto missing = read_csv(dir.file("nope.csv"));
  REQUIRE(!missing.ok());
  CHECK_THAT(missing.error().message(), Catch::Contains("nope.csv"));
}

TEST_CASE("parse_csv_number and csv_escape", "[runtime][csv]") {
  CHECK(parse_csv_number("42") == 42.0);
  CHECK(parse_csv_number("-1.5e3") == -1500.0);
  CHECK(parse_csv_number("+7") == 7.0);
  CHECK(parse_csv_number(" 3.25 ") == 3.25);
  CHECK(!parse_csv_number(""));
  CHECK(!parse_csv_number("NA"));
  CHECK(!parse_csv_number("1.2.3"));
  CHECK(!parse_csv_number("12abc"));
  CHECK(!parse_csv_number("RL"));
  CHECK(!parse_csv_number("--1"));
  CHECK(std::isinf(*parse_csv_number("1e999")));

  CHECK(csv_escape("plain") == "plain");
  CHECK(csv_escape("a,b") == "\"a,b\"");
  CHECK(csv_escape("say \"x\"") == "\"say \"\"x\"\"\"");
  CHECK(csv_escape("two\nlines") == "\"two\nlines\"");
  // Round trip through the parser.
  std::string text = "h\n" + csv_escape("a,\"b\"\nc") + "\n";
  auto t = parse_csv(text, "r.csv");
  REQUIRE(t.ok());
  CHECK(t->rows[0][0] == "a,\"b\"\nc");
}

TEST_CASE("read_csv refuses what is not a bounded regular file", "[runtime][csv][hardening]") {
  testing::TempDir dir;
  // A FIFO (or /dev/zero behind the name) used to block or read forever.
  REQUIRE(::mkfifo(dir.file("fifo.csv").c_str(), 0600) == 0);
  auto fifo = read_csv(dir.file("fifo.csv"));
  REQUIRE(!fifo.ok());
  CHECK_THAT(fifo.error().message(), Catch::Contains("fifo.csv") && Catch::Contains("not a regular file"));
  auto d = read_csv(dir.path());
  REQUIRE(!d.ok());
  CHECK_THAT(d.error().message(), Catch::Contains("not a regular file"));
  auto missing = read_csv(dir.file("missing.csv"));
  REQUIRE(!missing.ok());
  CHECK_THAT(missing.error().message(), Catch::Contains("missing.csv"));
}

TEST_CASE("parse_csv bounds the number of fields, padding included", "[runtime][csv][hardening]") {
  CsvOptions small;
  small.max_fields = 10;
  CHECK(parse_csv("a,b\n1,2\n3,4\n5,6\n7,8\n", "ok.csv", small).ok());  // exactly 10
  auto over = parse_csv("a,b\n1,2\n3,4\n5,6\n7,8\n9,10\n", "big.csv", small);
  REQUIRE(!over.ok());
  CHECK_THAT(over.error().message(), Catch::Contains("big.csv:6") && Catch::Contains("more than 10 fields"));
  small.pad_short_rows = true;
  auto padded = parse_csv("a,b,c,d,e\n1\n2\n", "pad.csv", small);  // 5 + 5 + 5 fields once padded
  REQUIRE(!padded.ok());
  CHECK_THAT(padded.error().message(), Catch::Contains("pad.csv:3"));
  CHECK(kMaxCsvFields >= 118260);
}
