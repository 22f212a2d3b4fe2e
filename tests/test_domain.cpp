// test_domain.cpp: numeric domains (common/domain.hpp) as flags, recipe values and JSON fields meet
// them: the message names the source, the value as given and the interval; NaN, infinities,
// non-numbers and non-integers are outside every domain; recipes go through the same checks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/cli.hpp"
#include "common/domain.hpp"
#include "common/error.hpp"
#include "train/train_flags.hpp"

namespace align {
namespace {

TEST(Domain, BoundsOpenAndClosedIntegersAndNonFinite) {
  const Domain unit = Domain::reals(0, 1, true, false);  // (0, 1]
  EXPECT_FALSE(unit.contains(0));
  EXPECT_TRUE(unit.contains(1e-300));
  EXPECT_TRUE(unit.contains(1));
  EXPECT_FALSE(unit.contains(std::nextafter(1.0, 2.0)));
  EXPECT_FALSE(unit.contains(std::nan("")));
  EXPECT_FALSE(Domain::reals(-1e308, 1e308).contains(std::numeric_limits<double>::infinity()));
  const Domain ints = Domain::ints(1, 10);
  EXPECT_TRUE(ints.contains(10));
  EXPECT_FALSE(ints.contains(2.5));
  EXPECT_FALSE(ints.contains(0));
  EXPECT_EQ(unit.describe(), "(0, 1] (a finite number)");
  EXPECT_EQ(ints.describe(), "[1, 10] (an integer)");
}

TEST(Domain, MessagesNameTheValueAsGivenAndTheInterval) {
  const Domain d = Domain::ints(0, 100);
  EXPECT_EQ(check_in_domain("5", d), "");
  EXPECT_EQ(check_in_domain("-1", d), "-1 is not in [0, 100] (an integer)");
  EXPECT_EQ(check_in_domain("nan", d), "nan is not in [0, 100] (an integer)");
  EXPECT_EQ(check_in_domain("inf", d), "inf is not in [0, 100] (an integer)");
  EXPECT_EQ(check_in_domain("1e30", d), "1e30 is not in [0, 100] (an integer)");
  EXPECT_EQ(check_in_domain("abc", d), "abc is not a number; expected one in [0, 100] (an integer)");
  EXPECT_EQ(check_in_domain("", d), "'' is not a number; expected one in [0, 100] (an integer)");
  EXPECT_EQ(check_in_domain("4x", d), "4x is not a number; expected one in [0, 100] (an integer)");
  EXPECT_EQ(check_in_domain("a\nb", d), "a\\x0ab is not a number; expected one in [0, 100] (an integer)");  // one line
  try {
    parse_in_domain("-2", Domain::reals(0, 1), "--loss-weights");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "--loss-weights: -2 is not in [0, 1] (a finite number)");
  }
}

TEST(Domain, AsACli11ValidatorItChecksAndNormalisesIntegers) {
  CLI::App app{"t", "t"};
  int steps = 0;
  double lr = 0;
  app.add_option("--steps", steps)->transform(in_domain(Domain::ints(0, 1000)));
  app.add_option("--lr", lr)->transform(in_domain(Domain::reals(0, 1, true)));
  EXPECT_EQ(parse_args(app, {"--steps", "1e2", "--lr", "0.5"}), -1);  // 1e2, as a recipe's JSON may write it
  EXPECT_EQ(steps, 100);
  EXPECT_EQ(lr, 0.5);
  try {
    app.parse(std::vector<std::string>{"inf", "--lr"});  // CLI11 takes the vector from its back
    ADD_FAILURE();
  } catch (const CLI::ValidationError& e) {
    EXPECT_EQ(std::string(e.what()), "--lr: inf is not in (0, 1] (a finite number)");
  }
  EXPECT_NE(app.help().find("(0, 1]"), std::string::npos) << "--help shows the domain";
}

TEST(Domain, JsonFields) {
  const nlohmann::json j = nlohmann::json::parse(R"({"a": 3, "b": -1, "c": 2.5, "d": "x", "e": 18446744073709551615})");
  EXPECT_EQ(json_integer(j, "a", Domain::ints(0, 10), "f.json"), 3);
  EXPECT_THROW(json_integer(j, "b", Domain::ints(0, 10), "f.json"), InputError);
  EXPECT_THROW(json_integer(j, "c", Domain::ints(0, 10), "f.json"), InputError);
  EXPECT_THROW(json_integer(j, "d", Domain::ints(0, 10), "f.json"), InputError);
  EXPECT_THROW(json_integer(j, "e", Domain::ints(0, 10), "f.json"), InputError);  // no wrap to -1
  EXPECT_THROW(json_integer(j, "zz", Domain::ints(0, 10), "f.json"), InputError);
  EXPECT_DOUBLE_EQ(json_number(j, "c", Domain::reals(0, 10), "f.json"), 2.5);
}

class RecipeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ =
        (std::filesystem::temp_directory_path() / ("align_recipe_" + std::to_string(::getpid()) + ".json")).string();
  }
  void TearDown() override { std::filesystem::remove(path_); }
  // The exit status and stderr line of a trainer-like parse of the recipe `json`.
  int parse(const std::string& json, std::string* message) {
    std::ofstream(path_) << json;
    CLI::App app{"t", "train_x"};
    train::CommonFlags f;
    train::add_training_flags(app, f);
    std::string config = "--config", m = "-m", mv = "m.bin", o = "-o", ov = "out";
    char* argv[] = {(char*)"train_x", config.data(), path_.data(), m.data(), mv.data(), o.data(), ov.data()};
    try {
      const std::vector<std::string> args = train::args_with_recipe(app, 7, argv);
      app.parse(std::vector<std::string>(args.rbegin(), args.rend()));
      return 0;
    } catch (const InputError& e) {
      *message = e.what();
    } catch (const CLI::ParseError& e) {
      *message = e.what();
    }
    return 2;
  }
  std::string path_;
};

TEST_F(RecipeTest, ValuesPassTheFlagsDomainsAndTypes) {
  std::string msg;
  EXPECT_EQ(parse(R"({"lr": 1e-5, "b": 4, "max-steps": 10.0, "resume": true})", &msg), 0) << msg;
  EXPECT_EQ(parse(R"({"lr": true})", &msg), 2);
  EXPECT_NE(msg.find("key 'lr' is a boolean, but --lr takes a value"), std::string::npos) << msg;
  EXPECT_EQ(parse(R"({"resume": 1})", &msg), 2);
  EXPECT_NE(msg.find("key 'resume' has JSON type number, but --resume is a switch"), std::string::npos) << msg;
  EXPECT_EQ(parse(R"({"lr": -1})", &msg), 2);
  EXPECT_EQ(msg, "--lr: -1 is not in (0, 1] (a finite number)");
  EXPECT_EQ(parse(R"({"adam-beta2": 1})", &msg), 2);
  EXPECT_EQ(msg, "--adam-beta2: 1 is not in [0, 1) (a finite number)");
  EXPECT_EQ(parse(R"({"max-steps": 2.5})", &msg), 2);
  EXPECT_EQ(msg, "--max-steps: 2.5 is not in [0, 1099511627776] (an integer)");
  EXPECT_EQ(parse(R"({"no-such-flag": 3})", &msg), 2);
  EXPECT_NE(msg.find("key 'no-such-flag' is not a flag of train_x"), std::string::npos) << msg;
  EXPECT_EQ(parse(R"({"lr": [1]})", &msg), 2);
  EXPECT_NE(msg.find("key 'lr' has JSON type array, expected a string, number or boolean"), std::string::npos) << msg;
}

}  // namespace
}  // namespace align
