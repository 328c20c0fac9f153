"""Plugin output parsing: every form of the Monitoring Plugins guidelines, and hostile input."""

from __future__ import annotations

import math
import random
import time

import pytest

from pacs_tui.probes.perfdata import (
    MAX_INPUT,
    MAX_ITEMS,
    MAX_LABEL,
    MAX_LONG_LINES,
    MAX_SUMMARY,
    PerfValue,
    PluginOutput,
    Range,
    metric_name,
    parse_output,
    parse_range,
)

KIB = 1024.0
UNITS = "none, s, ms, us, %, B, KB, MB, GB, TB, c"


def perf(text: str) -> PluginOutput:
    return parse_output(f"CHECK OK - fine | {text}")


def one(text: str) -> PerfValue:
    out = perf(text)
    assert out.problems == ()
    assert len(out.perfdata) == 1
    return out.perfdata[0]


# --- output structure ---------------------------------------------------------------------


def test_summary_only() -> None:
    out = parse_output("PING OK - Packet loss = 0%\n")
    assert out == PluginOutput("PING OK - Packet loss = 0%", (), (), ())


def test_summary_and_perfdata_on_the_first_line() -> None:
    out = parse_output("TCP OK - 0.001 second response time|time=0.000099s;;;0.000000;10.000000\n")
    assert out.summary == "TCP OK - 0.001 second response time"
    assert out.perfdata == (PerfValue("time", 0.000099, "s", None, None, 0.0, 10.0, "s"),)
    assert out.long_text == ()


def test_long_text_and_perfdata_in_it_continuing_on_later_lines() -> None:
    text = (
        "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n"
        "/ 15272 MB (77%);\n"
        "/boot 68 MB (69%);\n"
        "/home 69357 MB (27%);\n"
        "/var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n"
        "/home=69357MB;253404;253409;0;253414\n"
        "/var/log=818MB;970;975;0;980\n"
    )
    out = parse_output(text)
    assert out.summary == "DISK OK - free space: / 3326 MB (56%);"
    assert out.long_text == (
        "/ 15272 MB (77%);",
        "/boot 68 MB (69%);",
        "/home 69357 MB (27%);",
        "/var/log 819 MB (84%);",
    )
    assert [p.label for p in out.perfdata] == ["/", "/boot", "/home", "/var/log"]
    assert out.perfdata[0].value == 2643 * KIB * KIB
    assert out.perfdata[2].maximum == 253414 * KIB * KIB
    assert out.problems == ()


def test_long_text_without_perfdata_keeps_blank_lines_inside_and_drops_trailing_ones() -> None:
    out = parse_output("OK\nline 1\n\nline 3\n\n\n")
    assert out.long_text == ("line 1", "", "line 3")
    assert out.perfdata == ()


def test_perfdata_only_in_the_long_text() -> None:
    out = parse_output("OK - no perfdata here\ndetail | a=1\n")
    assert out.summary == "OK - no perfdata here"
    assert out.long_text == ("detail",)
    assert [p.label for p in out.perfdata] == ["a"]


def test_a_line_starting_with_the_bar_adds_no_empty_long_text_line() -> None:
    out = parse_output("OK\ndetail\n| a=1 b=2\n")
    assert out.long_text == ("detail",)
    assert [p.label for p in out.perfdata] == ["a", "b"]


def test_crlf_line_ends() -> None:
    out = parse_output("OK - windows | a=1\r\nsecond line\r\n")
    assert out.summary == "OK - windows"
    assert out.long_text == ("second line",)
    assert out.perfdata[0].value == 1.0


@pytest.mark.parametrize("text", ["", "\n", "   \n\n", "|", " | ", "OK |   "])
def test_empty_output_and_empty_perfdata(text: str) -> None:
    out = parse_output(text)
    assert out.summary == text.partition("|")[0].strip()
    assert out.perfdata == ()
    assert out.problems == ()


def test_summary_is_stripped_and_later_bars_go_to_perfdata() -> None:
    out = parse_output("  OK - a  | a=1 | b=2\n")
    assert out.summary == "OK - a"
    assert [p.label for p in out.perfdata] == ["a", "b"]
    assert out.problems == ("perfdata item '|': no '=' between label and value",)


# --- one perfdata item ----------------------------------------------------------------------


def test_all_five_fields() -> None:
    value = one("'load1'=4.7;5;10;0;100")
    assert value == PerfValue(
        "load1", 4.7, "", "5", "10", 0.0, 100.0, "", Range(0.0, 5.0), Range(0.0, 10.0)
    )


@pytest.mark.parametrize(
    ("item", "value", "unit"),
    [
        ("a=3", 3.0, ""),
        ("a=1.5s", 1.5, "s"),
        ("a=250ms", 0.25, "s"),
        ("a=40us", 40e-6, "s"),
        ("a=99.5%", 99.5, "%"),
        ("a=12c", 12.0, "c"),
        ("a=512B", 512.0, "B"),
        ("a=2KB", 2 * KIB, "B"),
        ("a=2kB", 2 * KIB, "B"),
        ("a=2kb", 2 * KIB, "B"),
        ("a=3MB", 3 * KIB**2, "B"),
        ("a=1.5GB", 1.5 * KIB**3, "B"),
        ("a=1TB", KIB**4, "B"),
        ("a=1MiB", KIB**2, "B"),
        ("a=-3", -3.0, ""),
        ("a=-0.5KB", -512.0, "B"),
        ("a=.5", 0.5, ""),
        ("a=5.", 5.0, ""),
        ("a=+2", 2.0, ""),
        ("a=1e-3s", 0.001, "s"),
        ("a=0,5", 0.5, ""),
        ("a=12,25ms", 0.01225, "s"),
    ],
)
def test_values_and_units_in_base_units(item: str, value: float, unit: str) -> None:
    got = one(item)
    assert got.value == pytest.approx(value)
    assert got.unit == unit
    assert got.uom == item.partition("=")[2].lstrip("-+.,0123456789e")


def test_unknown_value_u() -> None:
    got = one("'users'=U;5;10;0;")
    assert got.value is None
    assert got.warn == "5"
    assert got.minimum == 0.0
    assert got.maximum is None


def test_trailing_fields_dropped_or_empty() -> None:
    assert one("a=1") == PerfValue("a", 1.0, "", None, None, None, None)
    assert one("a=1;;;;") == PerfValue("a", 1.0, "", None, None, None, None)
    assert one("a=1;2") == PerfValue("a", 1.0, "", "2", None, None, None, "", Range(0, 2))
    got = one("a=1;;3;;7")
    assert (got.warn, got.crit, got.minimum, got.maximum) == (None, "3", None, 7.0)


def test_min_and_max_are_in_the_values_unit_and_may_repeat_it() -> None:
    got = one("rta=12ms;100;500;0;1000")
    assert got.minimum == 0.0
    assert got.maximum == pytest.approx(1.0)
    assert one("rta=12ms;;;0ms;1000ms").maximum == pytest.approx(1.0)


def test_thresholds_keep_the_text_and_get_ranges_in_base_units() -> None:
    got = one("time=5ms;10:;~:20")
    assert (got.warn, got.crit) == ("10:", "~:20")
    assert got.warn_range == Range(0.01, math.inf)
    assert got.crit_range == Range(-math.inf, 0.02)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10", Range(0, 10)),
        ("10:", Range(10, math.inf)),
        ("~:10", Range(-math.inf, 10)),
        ("10:20", Range(10, 20)),
        ("@10:20", Range(10, 20, inside=True)),
        ("@10", Range(0, 10, inside=True)),
        ("-5:-1", Range(-5, -1)),
        ("~:", Range(-math.inf, math.inf)),
        (":10", Range(0, 10)),
        ("1.5:2,5", Range(1.5, 2.5)),
        ("0", Range(0, 0)),
    ],
)
def test_range_forms(text: str, expected: Range) -> None:
    assert parse_range(text) == expected


@pytest.mark.parametrize(
    "text", ["", "@", "abc", "20:10", "1:2:3", "~", "10:~", "nan", "inf:", "1e999", "@@1", "٣"]
)
def test_not_ranges(text: str) -> None:
    assert parse_range(text) is None


def test_range_alerts_like_the_guidelines_say() -> None:
    assert [Range(0, 10).alerts(v) for v in (-1, 0, 10, 11)] == [True, False, False, True]
    assert [Range(10, math.inf).alerts(v) for v in (9.9, 10, 1e9)] == [True, False, False]
    assert [Range(-math.inf, 10).alerts(v) for v in (-1e9, 10, 10.1)] == [False, False, True]
    inside = Range(10, 20, inside=True)
    assert [inside.alerts(v) for v in (9, 10, 15, 20, 21)] == [False, True, True, True, False]


def test_quoted_labels_with_spaces_equals_and_escaped_quotes() -> None:
    out = perf("'a b'=1 'x=y'=2 'it''s'=3 ''''=4 'tab\there'=5 'ünï ©'=6")
    assert [p.label for p in out.perfdata] == ["a b", "x=y", "it's", "'", "tab\there", "ünï ©"]
    assert out.problems == ()


def test_unquoted_label_keeps_a_quote_inside_it() -> None:
    assert one("it's=1").label == "it's"


def test_several_items_separated_by_any_ascii_whitespace() -> None:
    out = perf("a=1  b=2\tc=3\r d=4\x0be=5\x0cf=6")
    assert [p.label for p in out.perfdata] == ["a", "b", "c", "d", "e", "f"]


def test_a_real_check_load_line() -> None:
    out = parse_output(
        "LOAD OK - total load average: 0.06, 0.19, 0.23|load1=0.060;1.000;4.000;0; "
        "load5=0.190;2.000;5.000;0; load15=0.230;3.000;6.000;0; \n"
    )
    assert [(p.label, p.value, p.warn, p.minimum) for p in out.perfdata] == [
        ("load1", 0.06, "1.000", 0.0),
        ("load5", 0.19, "2.000", 0.0),
        ("load15", 0.23, "3.000", 0.0),
    ]
    assert out.problems == ()


# --- what cannot be read -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ("x=abc", "perfdata item 'x=abc': value 'abc' is not a number"),
        ("a=b=1", "perfdata item 'a=b=1': value 'b=1' is not a number"),
        ("=3", "perfdata item '=3': empty label"),
        ("''=3", "perfdata item '''=3': empty label"),
        ("x=", "perfdata item 'x=': no value"),
        ("x=;1;2", "perfdata item 'x=;1;2': no value"),
        ("novalue", "perfdata item 'novalue': no '=' between label and value"),
        ("'unbalanced=3 b=4",
         "perfdata item ''unbalanced=3 b=4 ok=1': unbalanced quote in the label"),
        ("'a'b=1", "perfdata item ''a'b=1': no '=' after the quoted label"),
        ("x=NaN", "perfdata item 'x=NaN': value 'NaN' is not a number"),
        ("x=nan", "perfdata item 'x=nan': value 'nan' is not a number"),
        ("x=inf", "perfdata item 'x=inf': value 'inf' is not a number"),
        ("x=-Infinity", "perfdata item 'x=-Infinity': value '-Infinity' is not a number"),
        ("x=1e999", "perfdata item 'x=1e999': value '1e999' is not a number"),
        ("x=1e300TB", "perfdata item 'x=1e300TB': value '1e300TB' is not a number"),
        ("x=1.234,5", "perfdata item 'x=1.234,5': value '1.234,5' is not a number"),
        ("x=1,234,5", "perfdata item 'x=1,234,5': value '1,234,5' is not a number"),
        ("x=٣", "perfdata item 'x=٣': value '٣' is not a number"),
        ("x=0x10", "perfdata item 'x=0x10': value '0x10' is not a number"),
        ("x=5V", f"perfdata item 'x=5V': unit 'V' is not one of {UNITS}"),
        ("x=5%%", f"perfdata item 'x=5%%': unit '%%' is not one of {UNITS}"),
        ("x=-", "perfdata item 'x=-': value '-' is not a number"),
        ("x=.", "perfdata item 'x=.': value '.' is not a number"),
        ("x=u", "perfdata item 'x=u': value 'u' is not a number"),
    ],
)  # fmt: skip
def test_items_that_cannot_be_read_are_dropped_with_a_problem(item: str, problem: str) -> None:
    out = perf(f"{item} ok=1")
    got = [p.label for p in out.perfdata]
    assert got in (["ok"], [])  # an unbalanced quote swallows the rest
    assert out.problems == (problem,)


def test_a_space_between_quoted_label_and_equals_splits_the_item() -> None:
    out = perf("'a' =1 ok=1")
    assert [p.label for p in out.perfdata] == ["ok"]
    assert out.problems == (
        "perfdata item ''a'': no '=' after the quoted label",
        "perfdata item '=1': empty label",
    )


def test_bad_thresholds_and_bounds_keep_the_item_with_a_problem() -> None:
    out = perf("a=1;x;20:10;min;1e999")
    (value,) = out.perfdata
    assert value.value == 1.0
    assert (value.warn, value.crit) == ("x", "20:10")
    assert value.warn_range is None and value.crit_range is None
    assert value.minimum is None and value.maximum is None
    assert out.problems == (
        "perfdata item 'a=1;x;20:10;min;1e999': warn 'x' is not a range",
        "perfdata item 'a=1;x;20:10;min;1e999': crit '20:10' is not a range",
        "perfdata item 'a=1;x;20:10;min;1e999': min 'min' is not a number",
        "perfdata item 'a=1;x;20:10;min;1e999': max '1e999' is not a number",
    )


def test_a_max_in_another_unit_is_refused() -> None:
    out = perf("a=1ms;;;0;5s")
    assert out.perfdata[0].maximum is None
    assert out.problems == ("perfdata item 'a=1ms;;;0;5s': max '5s' is not a number",)


def test_extra_fields_are_ignored_with_a_problem() -> None:
    out = perf("a=1;2;3;4;5;6;7")
    assert out.perfdata[0].maximum == 5.0
    assert out.problems == (
        "perfdata item 'a=1;2;3;4;5;6;7': 7 fields, at most 5 (extra ones ignored)",
    )


def test_a_label_over_the_limit_is_dropped_not_cut() -> None:
    fits = "l" * MAX_LABEL
    over = "m" * (MAX_LABEL + 1)
    out = perf(f"{fits}=1 '{over}'=2")
    assert [p.label for p in out.perfdata] == [fits]
    assert out.problems == (f"perfdata item ''{'m' * 38}…': label of 65 characters, at most 64",)


def test_an_item_over_the_item_limit_is_dropped() -> None:
    out = perf("a=1;" + "9" * 600)
    assert out.perfdata == ()
    assert out.problems[0].endswith(": 604 characters long, at most 512")


def test_problem_snippets_are_short() -> None:
    out = perf("x" * 5000 + "=abc")
    assert out.problems == (
        "perfdata item '" + "x" * 39 + "…': 5,004 characters long, at most 512",
    )


# --- hostile input ---------------------------------------------------------------------------


def test_ten_thousand_items_keep_the_first_64_quickly() -> None:
    text = "OK |" + "".join(f" m{i}={i}ms;1;2;0;100" for i in range(10_000))
    started = time.perf_counter()
    out = parse_output(text)
    assert time.perf_counter() - started < 2.0
    assert len(out.perfdata) == MAX_ITEMS
    assert out.perfdata[-1].label == "m63"
    assert out.problems == (f"9,936 perfdata items after the first {MAX_ITEMS} dropped",)


def test_ten_thousand_bad_items_give_a_bounded_list_of_problems() -> None:
    out = perf(" ".join(f"x{i}=bad" for i in range(10_000)))
    assert out.perfdata == ()
    assert len(out.problems) == 17
    assert out.problems[-1] == "9,984 more problems not listed"


def test_huge_output_is_cut_before_it_is_looked_at() -> None:
    text = "OK | a=1\n" + ("z" * 999 + "\n") * 1000
    out = parse_output(text)
    assert out.problems[0] == f"output cut to {MAX_INPUT:,} of {len(text):,} characters"
    assert out.perfdata[0].value == 1.0
    assert len(out.long_text) == MAX_LONG_LINES
    assert any("lines of long text dropped" in p for p in out.problems)


def test_one_huge_line_without_newlines() -> None:
    out = parse_output("A" * 10_000_000)
    assert len(out.summary) == MAX_SUMMARY
    assert out.summary.endswith("…")
    assert out.problems == (
        f"output cut to {MAX_INPUT:,} of 10,000,000 characters",
        f"summary cut to {MAX_SUMMARY:,} of {MAX_INPUT:,} characters",
    )


def test_long_text_lines_are_cut() -> None:
    out = parse_output("OK\n" + "w" * 5000)
    assert len(out.long_text[0]) == 1000
    assert out.long_text[0].endswith("…")


def test_control_characters_and_binary_are_kept_raw_and_never_raise() -> None:
    text = (
        "OK \x1b[2J\x1b]52;c;aGk=\x07 \x00 \ufffd\ufffd \x9b | 'e\x1bsc'=1 n\x00ul=2\n\x1b[31mred\n"
    )
    out = parse_output(text)
    assert out.summary == "OK \x1b[2J\x1b]52;c;aGk=\x07 \x00 \ufffd\ufffd \x9b"
    assert [p.label for p in out.perfdata] == ["e\x1bsc", "n\x00ul"]
    assert out.long_text == ("\x1b[31mred",)


def test_random_bytes_never_raise_and_stay_bounded() -> None:
    rng = random.Random(7)
    alphabet = "a=1;:'|@~ \n\t.-,%BsmuUc\x00\x1b\x9b\u202eé"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 300)))
        out = parse_output(text)
        assert len(out.perfdata) <= MAX_ITEMS
        assert len(out.summary) <= MAX_SUMMARY
        assert len(out.problems) <= 17
        for value in out.perfdata:
            assert value.label and len(value.label) <= MAX_LABEL
            assert value.value is None or math.isfinite(value.value)
    blob = bytes(rng.randrange(256) for _ in range(100_000)).decode("utf-8", "replace")
    parse_output(blob)


def test_semicolons_only() -> None:
    out = perf("a=1;;;; b=2;;;;;;;;")
    assert [p.value for p in out.perfdata] == [1.0, 2.0]
    assert out.problems == (
        "perfdata item 'b=2;;;;;;;;': 9 fields, at most 5 (extra ones ignored)",
    )


# --- metric names ----------------------------------------------------------------------------


def test_metric_name_of_a_plain_label_is_readable() -> None:
    assert metric_name("load1") == "perf.load1"
    assert metric_name("/var/log") == "perf./var/log"
    assert metric_name("ünï") == "perf.ünï"


@pytest.mark.parametrize(
    "label", ["a b", "a\tb", "a\nb", "a\x1bb", "a\u202eb", "a~b", "", " ", "a\x00b", "a\u2028b"]
)
def test_metric_name_of_an_unsafe_label_is_cleaned_and_hashed(label: str) -> None:
    name = metric_name(label)
    assert name.startswith("perf.")
    head, tilde, digest = name[5:].rpartition("~")
    assert tilde and len(digest) == 12
    assert not any(c.isspace() or not c.isprintable() for c in name)
    assert head == "".join(
        "_" if not c.isprintable() or c.isspace() or c == "~" else c for c in label
    )


def test_metric_names_of_look_alike_labels_differ() -> None:
    labels = ["a b", "a_b", "a\tb", "a~b", "a\u00a0b", "a  b"[:3]]
    names = {metric_name(label) for label in labels}
    assert len(names) == len(set(labels))


def test_metric_name_is_bounded_and_stable() -> None:
    long = "x" * 10_000
    assert len(metric_name(long)) == 5 + 64 + 1 + 12
    assert metric_name(long) == metric_name(long)
    assert metric_name(long) != metric_name(long + "y")
    assert metric_name("y" * 64) == "perf." + "y" * 64
    assert metric_name("y" * 65).startswith("perf." + "y" * 64 + "~")


def test_metric_names_of_many_random_labels_do_not_collide() -> None:
    rng = random.Random(3)
    alphabet = "ab \t~_\x1b"
    labels = {
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 8))) for _ in range(20_000)
    }
    names = {metric_name(label) for label in labels}
    assert len(names) == len(labels)
