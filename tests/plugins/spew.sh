#!/bin/bash
# Output without end: "endless" (default) writes stdout for ever, "both" writes stdout and stderr
# for ever, "exit" writes 5,000,000 bytes and exits 0 (it blocks unless its reader keeps reading).
case "$1" in
    exit)
        head -c 5000000 /dev/zero | tr '\0' x
        exit 0
        ;;
    both)
        yes "on stderr" >&2 &
        exec yes "on stdout"
        ;;
    *)
        exec yes "endless output"
        ;;
esac
