#!/usr/bin/env python3
# tests/corpus/gen-lines.py: writes tests/corpus/lines/*.line and MANIFEST.
# The files are committed; run this again only to change the cases.
# Each .line file holds one bad input line WITHOUT its newline.
import os

HERE = os.path.dirname(os.path.abspath(__file__))
S = (b',"source":{"name":"shop","db":"shop","schema":"public","table":"orders",'
     b'"lsn":23880100,"commit_lsn":23880100,"seq":1,"ts_ms":1763700006000,"snapshot":"false"}')


def ev(after, src=S, op=b'"c"'):
    return (b'{"op":' + op + b',"before":null,"after":' + after + b',"key":{"id":9}' + src +
            b',"ts_ms":1763700006100}')


def src(members):
    return b',"source":{"schema":"public","table":"orders",' + members + b'}'


# name, line, reason (ERE, case-insensitive), what it is
CASES = [
    ("json-garbage", b"hello world", "JSON|number|character", "not JSON at all"),
    ("json-truncated", b'{"op":"c","after":{"id":1}', "end of input|JSON", "object cut short"),
    ("json-trailing-comma", b'{"op":"c","after":{"id":1},}', "key|JSON", "trailing comma"),
    ("json-single-quotes", b"{'op':'c'}", "key|JSON", "single-quoted keys"),
    ("json-trailing-text", b'{"op":"c","after":{"id":1}} x', "trailing|after", "text after the object"),
    ("json-two-objects", b'{"op":"c"}{"op":"c"}', "trailing|after", "two objects on one line"),
    ("json-bad-escape", ev(b'{"t":"a\\qb"}'), "escape", "unknown backslash escape"),
    ("json-bad-u-escape", ev(b'{"t":"\\u12G4"}'), "escape", "\\u with a non-hex digit"),
    ("json-raw-tab", ev(b'{"t":"a\tb"}'), "control", "raw control character in a string"),
    ("json-deep-nesting", ev(b'[' * 600 + b']' * 600), "deep|nest", "nesting deeper than 512"),
    ("json-leading-zero", ev(b'{"id":01}'), "JSON|number|,", "number with a leading zero"),
    ("json-nan", ev(b'{"v":NaN}'), "JSON|character|number", "NaN is not JSON"),
    ("shape-array", b'[{"op":"c"}]', "object", "a JSON array"),
    ("shape-string", b'"op"', "object", "a JSON string"),
    ("shape-number", b'42', "object", "a JSON number"),
    ("shape-null", b'null', "object", "JSON null"),
    ("shape-true", b'true', "object", "JSON true"),
    ("shape-empty-object", b'{}', "op", "an object without op"),
    ("empty", b'', "empty", "an empty line"),
    ("blank", b'  \t ', "empty", "a line of blanks"),
    ("utf8-overlong", ev(b'{"t":"\xc0\xaf"}'), "UTF-8", "overlong encoding of /"),
    ("utf8-surrogate", ev(b'{"t":"\xed\xa0\x80"}'), "UTF-8", "UTF-16 surrogate encoded in UTF-8"),
    ("utf8-truncated", ev(b'{"t":"\xe2\x82"}'), "UTF-8", "3-byte sequence cut short"),
    ("utf8-truncated-at-end", b'{"op":"c"}\xe2\x82', "UTF-8", "a cut sequence ending the line"),
    ("utf8-above-max", ev(b'{"t":"\xf4\x90\x80\x80"}'), "UTF-8", "code point above U+10FFFF"),
    ("utf8-lone-continuation", ev(b'{"t":"\x80"}'), "UTF-8", "a continuation byte alone"),
    ("utf8-latin1", ev(b'{"t":"caf\xe9"}'), "UTF-8", "Latin-1 text"),
    ("nul-in-string", ev(b'{"t":"a\x00b"}'), "NUL", "NUL byte in a string"),
    ("nul-only", b'\x00', "NUL", "a single NUL"),
    ("nul-after-object", b'{"op":"c"}\x00', "NUL", "NUL after the object"),
    ("op-number", ev(b'{"id":9}', op=b'1'), "op", "op is a number"),
    ("op-null", ev(b'{"id":9}', op=b'null'), "op", "op is null"),
    ("op-object", ev(b'{"id":9}', op=b'{"c":1}'), "op", "op is an object"),
    ("op-missing", b'{"before":null,"after":{"id":9},"key":{"id":9}' + S + b'}', "op", "no op"),
    ("source-array", ev(b'{"id":9}', src=b',"source":[]'), "source", "source is an array"),
    ("source-string", ev(b'{"id":9}', src=b',"source":"pg"'), "source", "source is a string"),
    ("source-null", ev(b'{"id":9}', src=b',"source":null'), "source", "source is null"),
    ("commit-lsn-string", ev(b'{"id":9}', src=src(b'"commit_lsn":"0/16B3748","seq":1')), "commit_lsn",
     "commit_lsn as a string"),
    ("commit-lsn-negative", ev(b'{"id":9}', src=src(b'"commit_lsn":-5,"seq":1')), "commit_lsn",
     "negative commit_lsn"),
    ("commit-lsn-too-big", ev(b'{"id":9}', src=src(b'"commit_lsn":18446744073709551616,"seq":1')), "commit_lsn",
     "commit_lsn above 2^64-1"),
    ("commit-lsn-float", ev(b'{"id":9}', src=src(b'"commit_lsn":1.5,"seq":1')), "commit_lsn",
     "fractional commit_lsn"),
    ("seq-string", ev(b'{"id":9}', src=src(b'"commit_lsn":1,"seq":"1"')), "seq", "seq as a string"),
    ("lsn-bool", ev(b'{"id":9}', src=src(b'"lsn":true,"commit_lsn":1,"seq":1')), "lsn", "source.lsn as a boolean"),
    ("ts-ms-string", ev(b'{"id":9}', src=src(b'"commit_lsn":1,"seq":1,"ts_ms":"now"')), "ts_ms",
     "source.ts_ms as a string"),
    ("schema-number", ev(b'{"id":9}', src=b',"source":{"schema":5,"table":"orders","commit_lsn":1,"seq":1}'),
     "schema", "source.schema as a number"),
    ("table-array", ev(b'{"id":9}', src=b',"source":{"schema":"public","table":["orders"],"commit_lsn":1,"seq":1}'),
     "table", "source.table as an array"),
    ("lone-high-surrogate", ev(b'{"id":9,"t":"\\ud800x"}'), "surrogate",
     "an escaped high surrogate without its low half (jq rejects it)"),
    ("duplicate-op", b'{"op":"c",' + ev(b'{"id":9}', op=b'"d"')[1:], "duplicate",
     "op twice: readers keeping the first and the last would differ"),
    ("duplicate-after-escaped", ev(b'{"id":9}')[:-1] + b',"af\\u0074er":{"id":10}}', "duplicate",
     "after twice, once written with escapes (a redaction would miss one)"),
    ("duplicate-table", ev(b'{"id":9}', src=b',"source":{"schema":"public","table":"a","t\\u0061ble":"b","commit_lsn":1,"seq":1}'),
     "duplicate", "source.table twice"),
]

# Lines that look odd but are good events: every program must take them
# (name, line, what it is).
TRICKY = [
    ("escaped-nul", ev(b'{"id":9,"t":"a\\u0000b"}'), "a NUL written as \\u0000 (valid JSON)"),
    ("lone-low-surrogate", ev(b'{"id":9,"t":"x\\udfff"}'), "an escaped lone low surrogate (U+FFFD, as in jq)"),
    ("deep-500", ev(b'{"id":9,"d":' + b'[' * 500 + b']' * 500 + b'}'), "nesting 500 deep (the cap is 512)"),
    ("huge-numbers", ev(b'{"id":9,"n":1e400,"m":-0.0,"k":123456789012345678901234567890}'),
     "numbers beyond a double"),
    ("unicode-keys", ev('{"id":9,"ключ":"значение","":1,"😀":"\\ud83d\\ude00"}'.encode()),
     "non-ASCII and empty keys"),
    ("escaped-op", ev(b'{"id":9}', op=b'"\\u0063"'), "op written as \\u0063"),
    ("surrounding-space", b'  \t' + ev(b'{"id":9}') + b' \t ', "blanks around the object"),
]

os.makedirs(os.path.join(HERE, "tricky"), exist_ok=True)
with open(os.path.join(HERE, "tricky", "MANIFEST"), "w") as m:
    m.write("# Odd but good events (tests/corpus/gen-lines.py): NAME.line holds the line without its newline.\n")
    m.write("# NAME<TAB>what it is\n")
    for name, data, what in TRICKY:
        assert b'\n' not in data, name
        with open(os.path.join(HERE, "tricky", name + ".line"), "wb") as f:
            f.write(data)
        m.write("%s\t%s\n" % (name, what))

os.makedirs(os.path.join(HERE, "lines"), exist_ok=True)
with open(os.path.join(HERE, "lines", "MANIFEST"), "w") as m:
    m.write("# Bad input lines (tests/corpus/gen-lines.py): NAME.line holds the line without its newline.\n")
    m.write("# NAME<TAB>REASON (extended regex, case-insensitive, for the program's message)<TAB>what it is\n")
    for name, data, reason, what in CASES:
        assert b'\n' not in data, name
        with open(os.path.join(HERE, "lines", name + ".line"), "wb") as f:
            f.write(data)
        m.write("%s\t%s\t%s\n" % (name, reason, what))
