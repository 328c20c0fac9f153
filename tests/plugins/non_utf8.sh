#!/bin/bash
# Bytes that are not UTF-8, a valid UTF-8 "é", a screen-clearing escape, an OSC 52 clipboard
# write, BEL, NUL and a C1 CSI byte, then perfdata.
printf 'OK \xff\xfe caf\xc3\xa9 \x1b[2J\x1b]52;c;aGk=\x07 nul\x00 end | bytes=5B\n'
printf 'long \x9b line\n'
printf 'err \xff\x1b[31m\n' >&2
exit 0
