#!/usr/bin/env python3
"""Renders small Jinja snippets and whole chat templates with Jinja2 configured exactly as Hugging Face transformers
configures it (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, raise_exception, strftime_now,
json.dumps-based tojson) and writes the outputs to cases.json for ReasoningServe's interpreter tests.

Run from the repository root:  python3 testdata/templates/conformance/make_cases.py
"""
import json
import os
import sys
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


ENV = make_env()

# (name, template, variables). Variables must be plain JSON.
SNIPPETS = [
    # whitespace control
    ("trim_blocks_eats_newline_after_block", "{% if true %}\nyes\n{% endif %}\nafter", {}),
    ("lstrip_blocks_strips_indent_before_block", "a\n    {% if true %}\n    b\n    {% endif %}\nc", {}),
    ("lstrip_does_not_touch_variables", "x\n    {{ 1 }}\n", {}),
    ("minus_strips_both_sides", "a   {%- if true -%}   b   {%- endif -%}   c", {}),
    ("minus_in_variable_tags", "a \n {{- 'x' -}} \n b", {}),
    ("plus_keeps_indent_and_newline", "a\n    {%+ if true +%}\nb\n{% endif %}", {}),
    ("comment_is_stripped_like_a_block", "a\n  {# note #}\nb{# c -#}   \n  d", {}),
    ("trailing_newline_dropped", "text\n", {}),
    ("only_one_trailing_newline_dropped", "text\n\n", {}),
    ("crlf_normalized", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\n", {}),
    ("inline_blocks_no_trim", "{% for i in [1,2] %}{{ i }}{% endfor %}|", {}),
    ("block_after_expression_on_same_line", "{{ 'a' }}  {% if true %}b{% endif %}", {}),
    ("raw_block", "{% raw %}{{ not parsed }}{% endraw %}", {}),
    ("nested_dict_braces_in_print", "{{ {'a': {'b': 1}} }}", {}),
    # literals and printing
    ("python_str_of_values", "{{ none }} {{ None }} {{ true }} {{ False }} {{ 1 }} {{ -3 }} {{ 1.0 }} {{ 0.1 }} {{ 2.50 }}", {}),
    ("float_repr_extremes", "{{ 1e16 }} {{ 1e15 }} {{ 1.5e-5 }} {{ 0.0001 }} {{ 123456789.123 }} {{ 1/3 }} {{ 0.1 + 0.2 }}", {}),
    ("list_and_dict_repr", "{{ [1, 'a', 1.5, none, true, [2], {'k': \"it's\"}] }}", {}),
    ("tuple_repr", "{{ (1,) }} {{ (1, 'b') }} {{ () }}", {}),
    ("string_repr_escapes", "{{ ['a\\nb', 'tab\\there', 'q\"', \"both'\\\"\", 'back\\\\slash', 'é', '\\x01'] }}", {}),
    ("string_escapes_in_literals", "{{ 'a\\tb\\\\c\\'d\\u00e9\\x41\\n' }}|{{ \"x\\d\" }}", {}),
    ("adjacent_strings_concatenate", "{{ 'a' 'b' \"c\" }}", {}),
    ("print_tuple_of_expressions", "{{ 1, 2 }}", {}),
    ("input_values_print_python_style", "{{ v }}|{{ v.d }}|{{ v.l }}", {"v": {"d": {"x": 1.0, "y": None}, "l": [True, "s", 3]}}),
    # arithmetic and operators
    ("integer_arithmetic", "{{ 7 + 2 }} {{ 7 - 9 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 6 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}", {}),
    ("float_arithmetic", "{{ 1.5 + 1 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 2.0 ** 3 }}", {}),
    ("string_and_list_ops", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ [1] + [2, 3] }} {{ 'x' ~ 1 ~ none ~ true }}", {}),
    ("bool_arithmetic", "{{ true + 1 }} {{ true == 1 }} {{ 1 == 1.0 }}", {}),
    ("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ 'a' ~ (1 + 2) }} {{ 2 * 3 ~ 4 }} {{ not 1 == 2 }}", {}),
    ("and_or_return_operands", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' and 'b' }} {{ none or none }} {{ x or 'default' }}", {}),
    ("comparisons", "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 != 2 }} {{ 2 >= 2 }}", {}),
    ("in_and_not_in", "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }} {{ 'a' in u }}", {}),
    ("conditional_expression", "{{ 'yes' if 1 else 'no' }}{{ 'no' if 0 else 'else' }}[{{ 'x' if false }}]", {}),
    ("unary_minus_and_filters", "{{ -1|abs }} {{ -(3) }} {{ +4 }}", {}),
    # undefined semantics
    ("undefined_prints_empty", "[{{ missing }}][{{ d.missing }}][{{ d['missing'] }}]", {"d": {}}),
    ("undefined_is_falsy_and_empty", "{% if missing %}t{% else %}f{% endif %}{% for x in missing %}x{% else %}empty{% endfor %}{{ missing|length }}", {}),
    ("defined_tests", "{{ m.content is defined }} {{ m.x is defined }} {{ m.x is undefined }} {{ m.n is none }} {{ m.n is not none }} {{ m.x is none }}", {"m": {"content": "c", "n": None}}),
    ("undefined_concat_with_tilde", "[{{ missing ~ 'x' }}]", {}),
    ("attribute_of_none_is_undefined", "[{{ n.x }}]{{ n.x is defined }}", {"n": None}),
    ("undefined_equality", "{{ missing == missing }} {{ missing == none }} {{ missing is iterable }} {{ missing is sequence }}", {}),
    # if / for
    ("if_elif_else", "{% for i in range(4) %}{% if i == 0 %}zero{% elif i == 1 %}one{% elif i == 2 %}two{% else %}many{% endif %},{% endfor %}", {}),
    ("loop_variables", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}", {}),
    ("loop_previtem_nextitem", "{% for x in [1, 2, 3] %}{{ loop.previtem is defined }}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}", {}),
    ("loop_cycle", "{% for x in range(5) %}{{ loop.cycle('a', 'b') }}{% endfor %}", {}),
    ("for_else", "{% for x in [] %}x{% else %}none{% endfor %}", {}),
    ("for_inline_filter_affects_loop", "{% for x in range(10) if x is odd %}{{ x }}:{{ loop.index }}/{{ loop.length }} {% endfor %}", {}),
    ("for_tuple_unpacking_items", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {"d": {"b": 1, "a": [2]}}),
    ("for_over_dict_gives_keys", "{% for k in d %}{{ k }}{% endfor %}", {"d": {"z": 1, "y": 2}}),
    ("for_over_string_gives_chars", "{% for c in 'héllo' %}{{ c }}.{% endfor %}", {}),
    ("nested_loops_inner_loop_var", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("break_and_continue", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("reverse_slice_loop", "{% for m in ms[::-1] %}{{ m }}{% endfor %}", {"ms": [1, 2, 3]}),
    # set and scoping
    ("set_inside_loop_does_not_leak", "{% set x = 1 %}{% for i in range(3) %}{% set x = x + 10 %}{{ x }},{% endfor %}{{ x }}", {}),
    ("set_inside_if_leaks", "{% if true %}{% set y = 'in' %}{% endif %}{{ y }}", {}),
    ("namespace_carries_state_out_of_loops", "{% set ns = namespace(count=0, names='') %}{% for m in ms %}{% set ns.count = ns.count + 1 %}{% set ns.names = ns.names ~ m.role %}{% endfor %}{{ ns.count }} {{ ns.names }}", {"ms": [{"role": "u"}, {"role": "a"}]}),
    ("namespace_repr", "{% set ns = namespace(a=1, b='x') %}{{ ns }}", {}),
    ("tuple_set", "{% set a, b = 1, 2 %}{{ a }}{{ b }}", {}),
    ("block_set", "{% set body %}\n  hello {{ name }}\n{% endset %}[{{ body }}]", {"name": "w"}),
    ("block_set_with_filter", "{% set body | upper | trim %}  hello  {% endset %}[{{ body }}]", {}),
    ("set_shadows_input_variable", "{% set messages = messages[1:] %}{{ messages|length }}", {"messages": [1, 2, 3]}),
    # macros, call, filter blocks
    ("macro_with_defaults", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} {{ greet(name='c', punct='.') }}", {}),
    ("macro_sees_outer_variables", "{% set sep = '/' %}{% macro j(a, b) %}{{ a }}{{ sep }}{{ b }}{% endmacro %}{{ j(1, 2) }}", {}),
    ("call_block_with_caller", "{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}inner{% endcall %}", {}),
    ("filter_block", "{% filter upper %}shout {{ 'it' }}{% endfilter %}", {}),
    # slicing and indexing
    ("slicing", "{{ s[1:] }} {{ s[:-1] }} {{ s[::2] }} {{ s[::-1] }} {{ s[-2:] }} {{ s[10:] }} {{ l[1:3] }} {{ l[::-1] }} {{ l[-1] }} {{ l[0] }}", {"s": "abcdef", "l": [1, 2, 3, 4]}),
    ("negative_step_slices", "{{ l[3:0:-1] }} {{ l[:1:-1] }} {{ l[-1:-5:-2] }}", {"l": [0, 1, 2, 3, 4, 5]}),
    ("index_out_of_range_is_undefined", "[{{ l[5] }}]{{ l[5] is defined }}", {"l": [1]}),
    ("dot_number_index", "{{ l.0 }}{{ l.1 }}", {"l": ["a", "b"]}),
    ("subscript_vs_attribute_on_dicts", "{{ d['items'] }} {{ d.items()|list|length }}", {"d": {"items": "value"}}),
    # tests
    ("type_tests", "{{ 's' is string }} {{ 1 is number }} {{ 1.5 is number }} {{ true is number }} {{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ d is mapping }} {{ l is mapping }} {{ l is iterable }} {{ 's' is iterable }} {{ 1 is iterable }} {{ l is sequence }} {{ none is none }}", {"d": {}, "l": []}),
    ("value_tests", "{{ true is true }} {{ 1 is true }} {{ false is false }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 'a' is equalto 'a' }} {{ 'a' is eq 'b' }} {{ 2 is gt 1 }} {{ 2 is lt 1 }} {{ 2 is in [1, 2] }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ range is callable }}", {}),
    ("negated_tests", "{{ 1 is not string }} {{ none is not none }} {{ not x is defined }}", {}),
    # filters
    ("string_filters", "{{ '  pad  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'MiXed'|lower }}|{{ 'MiXed'|upper }}|{{ 'hello wORLD-foo(bar'|title }}|{{ 'hELLO world'|capitalize }}|{{ 'aaa'|replace('a', 'b', 2) }}|{{ 'abc'|center(7) }}|", {}),
    ("length_count_wordcount", "{{ 'héllo'|length }} {{ [1, 2]|count }} {{ {'a': 1}|length }} {{ 'one two, three'|wordcount }}", {}),
    ("tojson_default", "{{ v|tojson }}", {"v": {"s": "é \" \\ \n \t \u0001 \u2028 😀", "n": None, "b": True, "i": 1, "f": 1.0, "g": 0.1, "l": [], "d": {}, "nested": [{"a": [1, 2]}]}}),
    ("tojson_indent", "{{ v|tojson(indent=4) }}", {"v": {"a": [1, {"b": None}], "c": {}, "d": [], "e": "x"}}),
    ("tojson_indent_2_and_sort_keys", "{{ v|tojson(indent=2, sort_keys=true) }}", {"v": {"b": 1, "a": [True, False]}}),
    ("tojson_separators_and_ensure_ascii", "{{ v|tojson(separators=(',', ':')) }} {{ v|tojson(ensure_ascii=true) }}", {"v": {"k": "é😀", "l": [1, 2]}}),
    ("tojson_scalars", "{{ 'str'|tojson }} {{ 1|tojson }} {{ 2.5|tojson }} {{ none|tojson }} {{ true|tojson }}", {}),
    ("string_int_float_filters", "{{ 1|string }}{{ none|string }}{{ [1]|string }} {{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ '2.5'|float }} {{ 'x'|float }} {{ 3|float }}", {}),
    ("join_and_map", "{{ ['a', 'b']|join(', ') }} {{ [1, 2]|join }} {{ ms|map(attribute='role')|join('|') }} {{ ['a', 'b']|map('upper')|join }} {{ ms|join(',', attribute='role') }}", {"ms": [{"role": "user"}, {"role": "assistant"}]}),
    ("map_attribute_default", "{{ ms|map(attribute='name', default='anon')|list }}", {"ms": [{"name": "x"}, {}]}),
    ("select_reject_filters", "{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} {{ [0, 1, '', 'a']|select|list }} {{ ms|selectattr('role', 'equalto', 'user')|map(attribute='c')|list }} {{ ms|rejectattr('role', 'eq', 'user')|list|length }} {{ ms|selectattr('tool')|list|length }}", {"ms": [{"role": "user", "c": 1}, {"role": "tool", "c": 2, "tool": True}, {"role": "user", "c": 3}]}),
    ("default_filter", "{{ missing|default('dflt') }} {{ none|default('dflt') }} {{ ''|default('dflt', true) }} {{ 'v'|d('dflt') }}", {}),
    ("first_last_list", "{{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ 'abc'|first }} {{ 'abc'|list }} {{ d|list }} [{{ []|first }}]", {"d": {"x": 1, "y": 2}}),
    ("items_keys_values", "{{ d|items|list }} {{ d.keys()|list }} {{ d.values()|list }} {{ d.get('x') }} {{ d.get('z', 'no') }} [{{ d.get('z') }}]", {"d": {"x": 1, "y": [2]}}),
    ("round_abs", "{{ 2.5|round }} {{ 3.5|round }} {{ 5|round }} {{ 3.14159|round(2) }} {{ 2.7|round(method='floor') }} {{ 2.1|round(0, 'ceil') }} {{ -3|abs }} {{ -2.5|abs }}", {}),
    ("sort_unique_reverse", "{{ [3, 1, 2]|sort }} {{ [3, 1, 2]|sort(reverse=true) }} {{ ['b', 'A', 'c']|sort }} {{ ['b', 'A', 'c']|sort(case_sensitive=true) }} {{ ms|sort(attribute='n')|map(attribute='n')|list }} {{ [1, 2, 1, 3]|unique|list }} {{ ['a', 'A', 'b']|unique|list }} {{ 'abc'|reverse }} {{ [1, 2, 3]|reverse|list }}", {"ms": [{"n": 2}, {"n": 1}]}),
    ("min_max_sum", "{{ [3, 1, 2]|max }} {{ [3, 1, 2]|min }} {{ [1, 2, 3]|sum }} {{ ms|sum(attribute='n') }} {{ ms|max(attribute='n') }} {{ ['b', 'A']|max }} {{ [1.5, 2]|sum }}", {"ms": [{"n": 2}, {"n": 5}]}),
    ("indent_filter", "[{{ 'a\\nb\\n\\nc'|indent }}] [{{ 'a\\nb'|indent(2, true) }}] [{{ 'a\\n\\nb'|indent(2, blank=true) }}] [{{ 'x\\n'|indent('--') }}]", {}),
    ("batch_filter", "{{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 'x')|list }}", {}),
    ("dictsort_filter", "{{ d|dictsort }} {{ d|dictsort(by='value', reverse=true) }}", {"d": {"b": 1, "a": 2}}),
    ("safe_and_escape", "{{ '<b>'|safe }} {{ '<a href=\"x\">&\\'</a>'|e }}", {}),
    ("attr_filter", "{{ d|attr('x') }}", {"d": {"x": 5}}),
    # string methods
    ("str_strip_methods", "[{{ '  a  '.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ '\\n\\na\\n'.lstrip('\\n') }}][{{ 'a  '.rstrip() }}]", {}),
    ("str_split_methods", "{{ 'a b  c '.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ 'x</think>y</think>z'.split('</think>')[-1] }} {{ 'a-b-c'.rsplit('-', 1) }} {{ 'l1\\nl2'.splitlines() }}", {}),
    ("str_predicates", "{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith('bc') }} {{ 'abc'.startswith(('x', 'a')) }} {{ 'abc'.find('c') }} {{ 'abc'.count('b') }} {{ '123'.isdigit() }}", {}),
    ("str_case_and_replace_methods", "{{ 'ab'.upper() }} {{ 'AB'.lower() }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }} {{ 'aXbX'.replace('X', '-') }} {{ ', '.join(['a', 'b']) }}", {}),
    # globals
    ("range_forms", "{{ range(3)|list }} {{ range(1, 4)|list }} {{ range(10, 0, -3)|list }} {{ range(3) }} {{ range(3)|length }}", {}),
    ("dict_global", "{{ dict(a=1, b='x') }} {{ dict(a=1)|tojson }}", {}),
    ("strftime_now_literal_format", "{{ strftime_now('%%') }}", {}),
    # realistic fragments
    ("reasoning_split_like_qwen", "{% set c = m.content %}{% if '</think>' in c %}{% set r = c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}{% set c = c.split('</think>')[-1].lstrip('\\n') %}{% endif %}[{{ r }}][{{ c }}]", {"m": {"content": "<think>\nhmm\n</think>\n\nanswer"}}),
    ("tool_call_arguments_string_or_mapping", "{% for tc in calls %}{% set f = tc.function if tc.function is defined else tc %}{{ f.name }}:{{ f.arguments if f.arguments is string else f.arguments|tojson }};{% endfor %}", {"calls": [{"function": {"name": "a", "arguments": {"x": 1}}}, {"name": "b", "arguments": "{\"y\": 2}"}]}),
    ("multiline_template_with_mixed_whitespace_control", "{%- for m in ms %}\n    {%- if m.role == 'user' %}\n<u>{{ m.content }}</u>\n    {%- else %}\n<a>{{ m.content | trim }}</a>\n    {% endif %}\n{%- endfor %}\n{{- '\\n' if add else '' -}}\n", {"ms": [{"role": "user", "content": "q"}, {"role": "assistant", "content": " a "}], "add": True}),
]

ERRORS = [
    ("raise_exception_aborts", "{{ raise_exception('Only user and assistant roles are supported!') }}", {}),
    ("unknown_filter", "{{ 1|no_such_filter }}", {}),
    ("unknown_test", "{{ 1 is no_such_test }}", {}),
    ("attribute_of_undefined", "{{ missing.attr }}", {}),
    ("nested_attribute_of_missing_key", "{{ d.x.y }}", {"d": {}}),
    ("add_str_and_int", "{{ 'a' + 1 }}", {}),
    ("add_undefined", "{{ missing + 1 }}", {}),
    ("tojson_of_undefined", "{{ missing|tojson }}", {}),
    ("unclosed_block", "{% if true %}never closed", {}),
    ("unknown_tag", "{% frobnicate %}", {}),
    ("iterate_none", "{% for x in none %}{% endfor %}", {}),
    ("call_undefined", "{{ nope() }}", {}),
    ("set_attribute_on_non_namespace", "{% set d = {} %}{% set d.x = 1 %}", {}),
    ("list_append_is_unsafe", "{% set l = [] %}{{ l.append(1) }}", {}),
    ("compare_str_and_int", "{{ 'a' < 1 }}", {}),
    ("tilde_binds_tighter_than_plus", "{{ 1 + 2 ~ 3 }}", {}),
    ("syntax_error_in_expression", "{{ 1 + }}", {}),
]


def render(template, variables):
    return ENV.from_string(template).render(**variables)


def snippet_cases():
    cases = []
    for name, template, variables in SNIPPETS:
        try:
            expected = render(template, variables)
        except Exception as e:
            raise SystemExit(f"snippet {name} failed: {e}")
        cases.append({"name": name, "template": template, "variables": variables, "expected": expected})
    for name, template, variables in ERRORS:
        try:
            render(template, variables)
        except Exception as e:  # noqa: BLE001 - every Jinja failure is an expected error here
            cases.append({"name": name, "template": template, "variables": variables, "error": f"{type(e).__name__}: {e}"})
        else:
            raise SystemExit(f"error case {name} rendered without error")
    return cases


# ---- whole chat templates, rendered the way apply_chat_template(tokenize=False) does ----

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
     "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"},
                                                     "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                    "required": ["city"]}}},
    {"type": "function", "function": {"name": "add", "description": "Adds numbers",
     "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}}},
]

CONVERSATIONS = {
    "single_user": [{"role": "user", "content": "Hello! How are you?"}],
    "system_and_turns": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"},
        {"role": "user", "content": "And 3+3? 😀 ünïcödé"},
    ],
    "reasoning_content_field": [
        {"role": "user", "content": "Why?"},
        {"role": "assistant", "content": "Because.", "reasoning_content": "Let me think."},
        {"role": "user", "content": "Ok"},
    ],
    "tool_round_trip": [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Weather in Paris and Lyon?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
            {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Lyon\"}"}}]},
        {"role": "tool", "content": "{\"temp\": 18}"},
        {"role": "tool", "content": "{\"temp\": 20}"},
        {"role": "assistant", "content": "18C and 20C."},
        {"role": "user", "content": "Thanks"},
    ],
    "continue_assistant": [
        {"role": "user", "content": "Write a haiku"},
        {"role": "assistant", "content": "Autumn moonlight  "},
    ],
}

TEMPLATE_FILES = {
    "qwen3": ("testdata/tokenizers/qwen3/tokenizer_config.json", None, "<|im_end|>"),
    "deepseek_v3": ("testdata/tokenizers/deepseek_v3/tokenizer_config.json", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "llama31_tools": ("testdata/templates/llama31_tools.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    "deepseek_r1": ("testdata/templates/deepseek_r1.jinja", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "qwq": ("testdata/templates/qwq.jinja", None, "<|im_end|>"),
}


def load_template(path):
    full = os.path.join(ROOT, path)
    if path.endswith(".json"):
        with open(full, encoding="utf-8") as f:
            return json.load(f)["chat_template"]
    with open(full, encoding="utf-8") as f:
        return f.read()


def apply_chat_template(template, messages, tools, add_generation_prompt, continue_final_message, kwargs, bos, eos):
    """transformers' render_jinja_template for one conversation."""
    variables = {}
    if bos is not None:
        variables["bos_token"] = bos
    if eos is not None:
        variables["eos_token"] = eos
    variables.update(kwargs)
    text = ENV.from_string(template).render(messages=messages, tools=tools, documents=None,
                                           add_generation_prompt=add_generation_prompt, **variables)
    if continue_final_message:
        final = messages[-1]["content"]
        loc = text.rindex(final.strip())
        if text[loc: loc + len(final.lstrip())] == final:
            text = text[: loc + len(final.lstrip())]
        else:
            text = text[: loc + len(final.strip())]
    return text


def template_cases():
    cases = []
    for tname, (path, bos, eos) in TEMPLATE_FILES.items():
        if not os.path.exists(os.path.join(ROOT, path)):
            print(f"skipping {tname}: {path} missing", file=sys.stderr)
            continue
        template = load_template(path)
        for cname, messages in CONVERSATIONS.items():
            variants = [("gen", True, False, {}), ("nogen", False, False, {})]
            if cname == "continue_assistant":
                variants = [("continue", False, True, {})]
            if cname == "single_user":
                variants.append(("no_thinking", True, False, {"enable_thinking": False}))
            for vname, gen, cont, extra in variants:
                extra = dict(extra)
                if tname == "llama31_tools":
                    extra["date_string"] = "26 Jul 2024"
                for with_tools in ([False, True] if cname in ("single_user", "tool_round_trip") else [False]):
                    tools = TOOLS if with_tools else None
                    text = apply_chat_template(template, messages, tools, gen, cont, extra, bos, eos)
                    cases.append({"name": f"{tname}/{cname}/{vname}{'/tools' if with_tools else ''}", "template_file": path,
                                  "messages": messages, "tools": tools,
                                  "kwargs": {"add_generation_prompt": gen, "continue_final_message": cont, **extra},
                                  "bos_token": bos, "eos_token": eos, "text": text})
    return cases


def main():
    out = {"generator": f"jinja2 {jinja2.__version__} configured like transformers' chat template environment",
           "snippets": snippet_cases(), "templates": template_cases()}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(out['snippets'])} snippets and {len(out['templates'])} template cases to {path}")


if __name__ == "__main__":
    main()
