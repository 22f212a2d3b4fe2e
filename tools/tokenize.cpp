// tokenize: encode text to ids and tokens, or decode ids back to text, with a
// Hugging Face tokenizer directory; optionally renders the text as a user
// message through the chat template first. For debugging templates and
// counting tokens.
//   tokenize -t TOK "some text"               ids, tokens and the count
//   echo "text" | tokenize -t TOK --chat      the text as a user turn + generation prompt
//   tokenize -t TOK --decode 15496 995        text (written as raw bytes: NUL-safe)
//   tokenize -t TOK --lines corpus.txt        one line of ids per input line, one process for a corpus
//   tokenize -t TOK --jsonl data.jsonl --field text     the same for a JSONL field (a string, or with
//                                             --chat a list of messages rendered by the template)
//   tokenize -t TOK --decode --lines ids.txt  one JSON string per line of ids (NUL and newlines escaped)
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "common/cli.hpp"
#include "common/text_escape.hpp"
#include "data/text_encoding.hpp"
#include "data/tokenizer_dir.hpp"

namespace {

std::vector<int32_t> parse_ids(const std::vector<std::string>& words, const std::string& where) {
  std::vector<int32_t> ids;
  for (const std::string& a : words) {
    char* end = nullptr;
    const long v = std::strtol(a.c_str(), &end, 10);
    ALIGN_REQUIRE(!a.empty() && end && *end == '\0' && v >= 0 && v <= INT32_MAX, where, "'", a, "' is not a token id");
    ids.push_back((int32_t)v);
  }
  return ids;
}

void print_ids(const std::vector<int32_t>& ids) {
  for (size_t i = 0; i < ids.size(); i++) std::printf("%s%d", i ? " " : "", ids[i]);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  return align::run_main("tokenize", [&]() -> int {
    CLI::App app{"encode text to token ids (or decode ids) with a Hugging Face tokenizer", "tokenize"};
    std::string tokenizer, chat_template, chat_date = "today", lines_file, jsonl_file, field = "text";
    std::vector<std::string> args;
    bool special = false, chat = false, decode = false, ids_only = false;
    app.add_option("-t,--tokenizer", tokenizer, "tokenizer directory or tokenizer.json")->required();
    app.add_option("input", args, "text to encode (joined with spaces; stdin when absent), or ids with --decode");
    app.add_flag("--special", special, "add the tokenizer's special tokens (e.g. BOS) as its post-processor does");
    app.add_flag("--chat", chat, "render the text as a user message with the chat template and a generation prompt");
    app.add_option("--chat-template", chat_template,
                   "a Jinja chat template file, or a built-in: chatml, llama3, zephyr, plain (default: the "
                   "tokenizer directory's)");
    app.add_option("--chat-date", chat_date, "the date strftime_now gives the template, YYYY-MM-DD or today")
        ->capture_default_str();
    app.add_flag("--decode", decode, "the input is token ids: print their text");
    app.add_flag("--ids-only", ids_only, "print only the ids, one line");
    app.add_option("--lines", lines_file, "a file ('-': stdin) whose every line is one input; one result per line");
    app.add_option("--jsonl", jsonl_file, "a JSONL file ('-': stdin); --field of each line is one input");
    app.add_option("--field", field, "the JSONL field read with --jsonl")->capture_default_str();
    if (const int rc = align::parse_args(app, argc, argv); rc >= 0) return rc;
    ALIGN_REQUIRE(lines_file.empty() || jsonl_file.empty(), "--lines and --jsonl exclude each other");
    ALIGN_REQUIRE((lines_file.empty() && jsonl_file.empty()) || args.empty(),
                  "give the input either as arguments or with --lines/--jsonl, not both");
    const align::data::TokenizerDir td = align::data::load_tokenizer_dir(tokenizer);
    const align::data::ChatDate date = align::data::parse_chat_date(chat_date, "--chat-date");
    const align::data::ChatTemplate* tmpl = nullptr;
    std::shared_ptr<const align::data::ChatTemplate> chosen;
    if (chat) {
      if (!chat_template.empty()) chosen = align::data::load_chat_template(chat_template);
      tmpl = &align::data::require_template(td, chosen);
    }
    auto render_user = [&](const std::string& text) {
      return tmpl->render(std::vector<align::data::Message>{{"user", text}}, true, td.bos_token, td.eos_token, date);
    };

    const std::string file = lines_file.empty() ? jsonl_file : lines_file;
    if (!file.empty()) {  // one process for a corpus: one result per input line
      std::ifstream in_file;
      if (file != "-") {
        in_file.open(file, std::ios::binary);
        ALIGN_REQUIRE(in_file.is_open(), file, ": cannot open");
      }
      std::istream& in = file == "-" ? std::cin : in_file;
      size_t line_no = 0;
      for (std::string line; std::getline(in, line);) {
        line_no++;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const std::string where = align::cat(file, ":", line_no, ": ");
        if (decode) {
          std::vector<std::string> words;
          for (size_t i = 0; i < line.size();) {
            const size_t b = line.find_first_not_of(" \t", i);
            if (b == std::string::npos) break;
            const size_t e = line.find_first_of(" \t", b);
            words.push_back(line.substr(b, e == std::string::npos ? std::string::npos : e - b));
            i = e == std::string::npos ? line.size() : e;
          }
          const std::string text = td.tokenizer.decode(parse_ids(words, where));
          std::printf("%s\n",
                      nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
          continue;
        }
        std::string text;
        if (!jsonl_file.empty()) {
          nlohmann::ordered_json j;
          try {
            j = nlohmann::ordered_json::parse(line);
          } catch (const nlohmann::json::exception& e) {
            throw align::InputError(align::cat(where, align::json_error(e, line)));
          }
          ALIGN_REQUIRE(j.is_object() && j.contains(field), where, "no field '", field, "'");
          if (chat && j[field].is_array()) {
            text = tmpl->render(j[field], true, td.bos_token, td.eos_token, date);
          } else {
            ALIGN_REQUIRE(j[field].is_string(), where, "field '", field, "' is a ", j[field].type_name(),
                          chat ? ", expected a string or a list of messages" : ", expected a string");
            text = chat ? render_user(j[field].get<std::string>()) : j[field].get<std::string>();
          }
        } else {
          text = chat ? render_user(line) : line;
        }
        print_ids(td.tokenizer.encode(text, special && !chat));
      }
      return 0;
    }

    if (decode) {
      const std::string text = td.tokenizer.decode(parse_ids(args, "--decode: "));
      std::fwrite(text.data(), 1, text.size(), stdout);  // raw bytes: a NUL in the text is kept
      std::fputc('\n', stdout);
      return 0;
    }
    std::string text;
    if (args.empty()) {
      text.assign(std::istreambuf_iterator<char>(std::cin), {});
    } else {
      for (size_t i = 0; i < args.size(); i++) text += (i ? " " : "") + args[i];
    }
    if (chat) {
      text = render_user(text);
      std::printf("rendered (%s): ", tmpl->origin().c_str());
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::printf("\n");
    }
    const std::vector<int32_t> ids = td.tokenizer.encode(text, special && !chat);
    if (ids_only) {
      print_ids(ids);
      return 0;
    }
    std::printf("%zu tokens\n", ids.size());
    for (int32_t id : ids) {
      const std::string tok = td.tokenizer.id_to_token(id).value_or("?");
      std::printf("%8d  ", id);
      std::fwrite(tok.data(), 1, tok.size(), stdout);
      std::fputc('\n', stdout);
    }
    return 0;
  });
}
