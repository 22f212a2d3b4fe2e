// tokenize: encode text to ids and tokens, or decode ids back to text, with a
// Hugging Face tokenizer directory; optionally renders the text as a user
// message through the chat template first. For debugging templates and
// counting tokens.
//   tokenize -t TOK "some text"               ids, tokens and the count
//   echo "text" | tokenize -t TOK --chat      the text as a user turn + generation prompt
//   tokenize -t TOK --decode 15496 995        text
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <iterator>

#include "common/cli.hpp"
#include "data/tokenizer_dir.hpp"

int main(int argc, char** argv) {
  return align::run_main("tokenize", [&]() -> int {
    CLI::App app{"encode text to token ids (or decode ids) with a Hugging Face tokenizer", "tokenize"};
    std::string tokenizer, chat_template;
    std::vector<std::string> args;
    bool special = false, chat = false, decode = false, ids_only = false;
    app.add_option("-t,--tokenizer", tokenizer, "tokenizer directory or tokenizer.json")->required();
    app.add_option("input", args, "text to encode (joined with spaces; stdin when absent), or ids with --decode");
    app.add_flag("--special", special, "add the tokenizer's special tokens (e.g. BOS) as its post-processor does");
    app.add_flag("--chat", chat, "render the text as a user message with the chat template and a generation prompt");
    app.add_option("--chat-template", chat_template, "chatml, llama3, zephyr or plain (default: detected)");
    app.add_flag("--decode", decode, "the input is token ids: print their text");
    app.add_flag("--ids-only", ids_only, "print only the ids, one line");
    if (const int rc = align::parse_args(app, argc, argv); rc >= 0) return rc;
    const align::data::TokenizerDir td = align::data::load_tokenizer_dir(tokenizer);
    if (decode) {
      std::vector<int32_t> ids;
      for (const std::string& a : args) {
        char* end = nullptr;
        const long v = std::strtol(a.c_str(), &end, 10);
        ALIGN_REQUIRE(end && *end == '\0' && v >= 0, "--decode: '", a, "' is not a token id");
        ids.push_back((int32_t)v);
      }
      std::printf("%s\n", td.tokenizer.decode(ids).c_str());
      return 0;
    }
    std::string text;
    if (args.empty()) {
      text.assign(std::istreambuf_iterator<char>(std::cin), {});
    } else {
      for (size_t i = 0; i < args.size(); i++) text += (i ? " " : "") + args[i];
    }
    if (chat) {
      std::optional<align::data::ChatTemplate> t = td.chat_template;
      if (!chat_template.empty()) t = align::data::parse_chat_template(chat_template);
      ALIGN_REQUIRE(t.has_value(), "--chat: the tokenizer has no built-in chat template; give --chat-template");
      text = align::data::render_chat(*t, {{"user", text}}, true, td.bos_token, td.eos_token);
      std::printf("rendered (%s): %s\n", align::data::chat_template_name(*t), text.c_str());
    }
    const std::vector<int32_t> ids = td.tokenizer.encode(text, special && !chat);
    if (ids_only) {
      for (size_t i = 0; i < ids.size(); i++) std::printf("%s%d", i ? " " : "", ids[i]);
      std::printf("\n");
      return 0;
    }
    std::printf("%zu tokens\n", ids.size());
    for (int32_t id : ids) std::printf("%8d  %s\n", id, td.tokenizer.id_to_token(id).value_or("?").c_str());
    return 0;
  });
}
