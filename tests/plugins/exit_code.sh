#!/bin/bash
# Exits with the code $1, or, with $1 = "signal", ends itself with signal number $2.
if [ "$1" = signal ]; then
    echo "SIGNAL - about to get signal $2"
    kill -n "$2" $$
fi
echo "EXIT - exit code $1"
exit "$1"
