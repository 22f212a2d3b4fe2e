#!/usr/bin/env python3
"""make_chat_golden.py: expected chat-template renderings from transformers itself.

For every real chat template under tests/data/chat_templates/ (their sources in
sources.json there), renders a fixed set of conversations through
PreTrainedTokenizerFast.apply_chat_template(tokenize=False) with the model's
own BOS/EOS text and a fixed strftime_now date (2026-03-07 00:00:00), with
add_generation_prompt off and on, and for conversational pairs the three
renderings TRL makes (prompt with the generation prompt, prompt + chosen,
prompt + rejected). A template that raises (a Gemma 2 template given a
system message, say) records the error message instead of text.

Also renders a set of small templates that pin jinja2's semantics (scoping,
whitespace control, filters, tests, Python string methods) in transformers'
environment, so the C++ interpreter is checked construct by construct.

Writes tests/data/chat/expected.json and tests/data/chat/semantics.json.
Needs: pip install transformers jinja2 tokenizers   (dev tooling only)
"""
import datetime as real_datetime
import json
import os

import transformers.utils.chat_template_utils as ctu
from transformers import PreTrainedTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "tests", "data")
FIXED_NOW = real_datetime.datetime(2026, 3, 7, 0, 0, 0)


class FixedDatetime(real_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED_NOW


ctu.datetime = FixedDatetime  # strftime_now() reads the module's datetime.now()

# The model's own special-token text (from each model's tokenizer_config.json).
SPECIAL = {
    "llama3.1": ("<|begin_of_text|>", "<|eot_id|>"),
    "llama3.2": ("<|begin_of_text|>", "<|eot_id|>"),
    "llama3.3": ("<|begin_of_text|>", "<|eot_id|>"),
    "qwen2.5": (None, "<|im_end|>"),
    "qwen2_chatml": (None, "<|endoftext|>"),
    "qwen3": (None, "<|im_end|>"),
    "gemma2": ("<bos>", "<eos>"),
    "gemma3": ("<bos>", "<eos>"),
    "phi3.5": ("<s>", "<|endoftext|>"),
    "phi4": ("<|endoftext|>", "<|im_end|>"),
    "mistral_nemo": ("<s>", "</s>"),
    "mistral_v0.2": ("<s>", "</s>"),
    "zephyr": ("<s>", "</s>"),
    "deepseek_r1_distill_llama": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "smollm2": ("<|im_start|>", "<|im_end|>"),
}

U = lambda c: {"role": "user", "content": c}  # noqa: E731
A = lambda c: {"role": "assistant", "content": c}  # noqa: E731
S = lambda c: {"role": "system", "content": c}  # noqa: E731

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city, «live».",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"},
                                                    "days": {"type": "integer", "minimum": 1, "maximum": 7.5}},
                   "required": ["city"]}}}

CONVERSATIONS = [
    {"name": "user_only", "messages": [U("Hello!")]},
    {"name": "system_user", "messages": [S("You are terse."), U("Capital of France?")]},
    {"name": "multi_turn", "messages": [U("Hi"), A("Hello! How can I help?"), U("Tell me a joke.")]},
    {"name": "system_multi_turn", "messages": [S("Answer in French."), U("One?"), A("Un."), U("Two?"), A("Deux.")]},
    {"name": "empty_content", "messages": [U(""), A("")]},
    {"name": "unicode", "messages": [U("Café naïve 日本語 😀 ΣΑΣ ﬁ İ"), A("Ω — «ok» \u2028 end")]},
    {"name": "whitespace", "messages": [U("  padded  \n"), A("\n\tindented\n\n"), U("\u3000ideographic\u2003 nbsp\u00a0")]},
    {"name": "quotes_and_braces", "messages": [U("Say {{ not a tag }} and {% neither %} \"q\" 'a' \\n"), A("ok")]},
    {"name": "thinking", "messages": [U("2+2?"), A("<think>\nadd them\n</think>\n\n4")]},
    {"name": "tools", "messages": [U("Weather in Paris?")], "tools": [WEATHER_TOOL]},
]

PAIRS = [
    {"name": "pair_basic", "prompt": [U("What colour is the sky?")], "chosen": [A("Blue.")], "rejected": [A("Green.")]},
    {"name": "pair_system", "prompt": [S("You are terse."), U("Capital of France?")], "chosen": [A("Paris.")],
     "rejected": [A("Lyon.")]},
    {"name": "pair_multi", "prompt": [U("Hi"), A("Hello!"), U("Tell me a joke.")],
     "chosen": [A("Why did the GPU cross the bus?")], "rejected": [A("No.")]},
]

# Small templates that pin jinja2's behaviour in transformers' environment.
SEMANTICS = [
    "{% for i in [1,2] %}[{{ x }}]{% set x = i %}{% endfor %}{{ x }}",
    "{% if true %}{% set z = 3 %}{% endif %}{{ z }}",
    "{% set ns = namespace(a=1) %}{% for i in [1,2,3] %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}",
    "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}"
    "{{ loop.revindex }}{{ loop.previtem }}{{ loop.nextitem }}|{% endfor %}",
    "{% for x in [] %}no{% else %}empty{% endfor %}",
    "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "{% for x in range(6) if x is odd %}{{ x }}{{ loop.length }} {% endfor %}",
    "{% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}={{ v }};{% endfor %}",
    "{% for k, v in {'b': 1, 'a': 2} | items %}{{ k }}={{ v }};{% endfor %}{{ {'b': 1, 'a': 2} | dictsort }}",
    "  {% if true %}\n  x\n  {% endif %}\n",
    "a\n  {%- if true -%}  \n  b  {%+ if true %}c{% endif +%}\nd {# comment #}\n  {# c2 #}\ne{% endif %}\n\t{% if 1 %}f\n{% endif %}",
    "{% for m in [1, 2] %}\n    {{ m }}\n    {% if m == 1 %}\n        one\n    {% endif %}\n{% endfor %}\n",
    "x {%- if true %}  y {% endif -%}  z\n{{ 'v' -}}\n  w {#- c -#} \n q {{- 'r' }}",
    "{{- ' x ' -}}  {{ 'y' }} \n {%- set q = 1 %}\n{{ q }}\n",
    "{%- macro greet(name, punct='!') -%}Hi {{ name }}{{ punct }}{%- endmacro -%}{{ greet('Ann') }} {{ greet('Bo', punct='?') }}",
    "{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}inner{% endcall %}",
    "{% set block %}  text {{ 1 + 1 }}  {% endset %}[{{ block }}]",
    "{% filter upper %}shout {{ 'this' }}{% endfilter %}",
    "{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1.5 * 2 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-5 }} {{ 3.0 }}",
    "{{ 'a' ~ 1 ~ none ~ true }} {{ [1, 'a', none, true, 1.5] }} {{ {'k': 'v', 'n': [1]} }} {{ none }} {{ undefined_name }}|",
    "{{ 'x' if false }}|{{ 'y' if true else 'z' }}|{{ 1 if 0 else 2 if 1 else 3 }}",
    "{{ not 1 == 2 and 3 > 2 or false }} {{ 1 < 2 < 3 }} {{ 'b' in 'abc' }} {{ 2 not in [1, 3] }} {{ 'k' in {'k': 1} }}",
    "{{ x is defined }} {{ none is none }} {{ 'a' is string }} {{ {} is mapping }} {{ [] is iterable }} {{ 3 is number }}"
    " {{ true is boolean }} {{ 3 is integer }} {{ 3.0 is float }} {{ 4 is even }} {{ 9 is divisibleby 3 }}"
    " {{ false is false }} {{ 1 is true }} {{ 'x' is not none }} {{ [1] is sequence }}",
    "{{ '  \u3000 both \u00a0\u2003 ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ ' a  b\tc\n' .split() }}|{{ 'a,,b'.split(',') }}"
    "|{{ 'a b c'.split(' ', 1) }}|{{ '\u3000x\u3000'.strip() }}|{{ '--x--'.lstrip('-') }}|{{ '--x--'.rstrip('-') }}",
    "{{ 'héllo wörld' | upper }} {{ 'ÀÉÎ ΣΑΣ' | lower }} {{ 'straße' | upper }} {{ 'hello wORLD-foo (bar)' | title }}"
    " {{ 'they\\'re bill\\'s' .title() }} {{ 'élan VITAL' | capitalize }} {{ 'ǆemal' | capitalize }}",
    "{{ '日本語テキスト' | length }} {{ '日本語'[1] }} {{ '日本語テキスト'[1:4] }} {{ '日本語'[::-1] }} {{ [1,2,3,4,5][::2] }}"
    " {{ [1,2,3][-1] }} {{ [1,2,3][5] }}| {{ 'abc'[-5:10] }} {{ [1,2,3,4][3:0:-1] }}",
    "{{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(reverse=true, case_sensitive=true) }} {{ [3, 1, 2] | max }}"
    " {{ [3, 1, 2] | min }} {{ [1, 2, 3] | sum }} {{ ['a', 'A', 'b'] | unique | list }} {{ [1, 2] | reverse | list }}",
    "{{ [1, 2, 3] | join('-') }} {{ [{'n': 'a'}, {'n': 'b'}] | map(attribute='n') | join }} {{ ['a', 'b'] | map('upper') | list }}"
    " {{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'abc' | first }} {{ [] | first }}|{{ 'x' | list }}",
    "{% set ms = [{'role': 'user', 'c': 1}, {'role': 'assistant'}, {'role': 'user', 'c': 3}] %}"
    "{{ ms | selectattr('role', 'equalto', 'user') | list | length }} {{ ms | rejectattr('c', 'defined') | list }}"
    " {{ ms | selectattr('c') | map(attribute='c') | list }} {{ [0, 1, '', 'a'] | select | list }} {{ [1, 2, 3, 4] | reject('odd') | list }}",
    "{{ x | default('dflt') }} {{ '' | default('e', true) }} {{ none | default('n') }} {{ undefined_thing | length }}"
    " {{ '42' | int + 1 }} {{ '3.5' | float }} {{ 'x' | int(7) }} {{ -3 | abs }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 42 | string ~ '!' }}",
    "{{ {'a': 'ü\"\\n', 'b': [1, 2.5, none, true], 'c': {}} | tojson }} {{ [1, [2, {'x': []}]] | tojson(indent=2) }}"
    " {{ 'é' | tojson(ensure_ascii=true) }} {{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }} {{ {'a': 1} | tojson(separators=(',', ':')) }}",
    "{{ 'a-b-c'.replace('-', '+') }} {{ 'a-b-c' | replace('-', '', 1) }} {{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }}"
    " {{ 'hello'.find('l') }} {{ 'hello'.count('l') }} {{ ', '.join(['a', 'b']) }} {{ 'ABC'.lower() }} {{ 'abc'.upper() }}"
    " {{ '123'.isdigit() }} {{ '12a'.isdigit() }} {{ ''.isdigit() }} {{ 'abC'.isalpha() }} {{ 'a1'.isalpha() }} {{ ' \t'.isspace() }}",
    "{% set d = dict(a=1, b='x') %}{{ d }} {{ d.a }} {{ d['b'] }} {{ d.get('c', 'none') }} {{ d.missing is defined }} {{ d | length }}"
    " {{ d.keys() | list }} {{ d.values() | list }} {{ namespace(x=1).x }}",
    "{{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ [1, 2] + [3] }} {{ 'ab' * 3 }} {{ (1, 2) | list }} {{ 'a' 'b' }}",
    "{%- for m in messages -%}{{ m.role }}:{{ m['content'] | trim }}{% if not loop.last %}|{% endif %}{%- endfor -%}",
    "{{ messages[0].content.split('</think>')[-1].lstrip('\\n') }}{{ messages == messages }}{{ messages[0] == {'role': 'user', 'content': 'x'} }}",
    "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a is defined }} {{ 'a\\tb\\x41\\u00e9\\U0001F600' }} {{ \"it's\" }}",
    "{% for a in [1, 2] %}{% for b in [3, 4] %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}|{% endfor %}",
    "{{ 2.675 | round(2) }} {{ 0.5 | round }} {{ 1.5 | round }} {{ -2.5 | round }} {{ 2.5 | round(0, 'floor') }} {{ (1, 2) }} {{ (1,) }} {{ (1, 2) == [1, 2] }}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }} {{ [1, 2, 3][1:] }} {{ 'x' ~ [1] }} {{ loop is defined }} {{ 10 - 2 - 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }}",
    "{% generation %}gen {{ 'text' }}{% endgeneration %} {{ raise_exception is defined }} {{ strftime_now('%Y-%m-%d %H:%M %d %b %Y') }}",
]
SEMANTICS_MESSAGES = [{"role": "user", "content": "  a<think>b</think>\n\nreply  "}, {"role": "assistant", "content": "x"}]

ERRORS = [  # templates that must fail (text: the error type and message jinja2 gives)
    "{{ 'a' + 1 }}",
    "{{ a.b }}",
    "{{ undefined_fn() }}",
    "{{ raise_exception('custom failure') }}",
    "{% if x %}",
    "{{ x | no_such_filter }}",
    "{{ {'a': 1}.b.c }}",
]


def make_tokenizer(bos, eos):
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(DATA, "tokenizers", "gpt2_style", "tokenizer.json"),
                                  bos_token=bos, eos_token=eos)
    return tok


def render(tok, template, messages, add_generation_prompt, tools=None):
    try:
        return {"text": tok.apply_chat_template(messages, chat_template=template, tools=tools, tokenize=False,
                                                add_generation_prompt=add_generation_prompt)}
    except Exception as e:  # noqa: BLE001 - the template's own error is the expected result
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    tdir = os.path.join(DATA, "chat_templates")
    out = {"now": FIXED_NOW.strftime("%Y-%m-%d"), "conversations": CONVERSATIONS, "pairs": PAIRS, "templates": {}}
    for name in sorted(SPECIAL):
        with open(os.path.join(tdir, name + ".jinja"), encoding="utf-8") as f:
            template = f.read()
        bos, eos = SPECIAL[name]
        tok = make_tokenizer(bos, eos)
        results = {}
        for conv in CONVERSATIONS:
            for agp in (False, True):
                results[f"{conv['name']}/{'gen' if agp else 'nogen'}"] = render(tok, template, conv["messages"], agp,
                                                                                conv.get("tools"))
        for pair in PAIRS:
            results[f"{pair['name']}/prompt"] = render(tok, template, pair["prompt"], True)
            results[f"{pair['name']}/chosen"] = render(tok, template, pair["prompt"] + pair["chosen"], False)
            results[f"{pair['name']}/rejected"] = render(tok, template, pair["prompt"] + pair["rejected"], False)
        out["templates"][name] = {"bos_token": bos or "", "eos_token": eos or "", "renderings": results}
        n_err = sum("error" in r for r in results.values())
        print(f"{name}: {len(results)} renderings, {n_err} raised")
    os.makedirs(os.path.join(DATA, "chat"), exist_ok=True)
    with open(os.path.join(DATA, "chat", "expected.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0)

    tok = make_tokenizer("<s>", "</s>")
    sem = {"messages": SEMANTICS_MESSAGES, "cases": []}
    for t in SEMANTICS + ERRORS:
        r = render(tok, t, SEMANTICS_MESSAGES, False)
        sem["cases"].append({"template": t, **r})
    with open(os.path.join(DATA, "chat", "semantics.json"), "w", encoding="utf-8") as f:
        json.dump(sem, f, ensure_ascii=False, indent=0)
    print(f"semantics: {len(sem['cases'])} cases, {sum('error' in c for c in sem['cases'])} raise")


if __name__ == "__main__":
    main()
