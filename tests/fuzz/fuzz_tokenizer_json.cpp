// fuzz_tokenizer_json: tokenizer.json (models, normalisers, pre-tokenisers, decoders, added tokens);
// an accepted tokenizer encodes and decodes a few texts.
#include "fuzz_util.hpp"
#include "tokenizer/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = align::fuzz::write_scratch("tokenizer.json", data, size);
  align::fuzz::expect_input_errors_only([&] {
    const align::tok::Tokenizer t = align::tok::Tokenizer::from_file(path);
    for (const char* text :
         {"Hello world!", " a  b\n\nc\t", "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80 42", "<|im_start|>x"}) {
      const std::vector<int32_t> ids = t.encode(text, true);
      t.decode(ids, false);
      t.decode(ids, true);
    }
    t.decode({0, 1, 2, 3, 255, 256, 1000, 100000}, false);
  });
  return 0;
}
